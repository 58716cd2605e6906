"""The outbox, the feed read from it, and webhook subscriptions.

Every change other systems care about is recorded in the transaction that makes it; the relay
numbers committed rows (relay.py), the feed serves only numbered rows, and the dispatcher
(dispatch.py) pushes them to webhooks.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.errors import Gone, NotFound
from commerce.events.models import OutboxEvent, Webhook, WebhookDelivery
from commerce.events.rules import check_webhook_url
from commerce.events.schemas import DeliveryOut, Event, EventPage, WebhookIn, WebhookOut
from commerce.settings import Settings


async def record(db: AsyncSession, type_: str, data: dict[str, Any]) -> None:
    await db.execute(insert(OutboxEvent).values(type=type_, data=data))


async def feed_end(db: AsyncSession) -> int:
    """The last seq in the feed (0 when empty): a reader starting after it sees only what comes next."""
    return int(await db.scalar(select(func.coalesce(func.max(OutboxEvent.seq), 0))) or 0)


async def list_events(
    db: AsyncSession, *, after: int, types: list[str] | None, limit: int, settings: Settings
) -> EventPage:
    """Numbered events after `after`, in seq order (unnumbered rows are not final yet and never shown)."""
    stmt = select(OutboxEvent).where(OutboxEvent.seq > after).order_by(OutboxEvent.seq).limit(limit)
    if types is not None:
        stmt = stmt.where(OutboxEvent.type.in_(types))
    rows = (await db.scalars(stmt)).all()
    items = [Event(seq=r.seq, type=r.type, occurred_at=r.occurred_at, data=r.data) for r in rows if r.seq is not None]
    if after > 0 and (not items or items[0].seq != after + 1):
        # The feed has no holes, so a page that does not start right after `after` may mean the events
        # after it are past their retention (commerce/retention.py) and gone: say so, never skip silently.
        start = await db.scalar(select(func.min(OutboxEvent.seq)))
        if start is not None and after + 1 < start:
            raise Gone(
                f"Events up to seq {start - 1} are no longer kept (the feed keeps about "
                f"{settings.event_retention_days:g} days); this position is too old to continue from. Rebuild "
                f"your copy from the API, then read on with after={start - 1}.",
                code="feed_position_expired",
                first_seq=start,
            )
    return EventPage(items=items, next_after=items[-1].seq if items else after)


def webhook_out(hook: Webhook) -> WebhookOut:
    return WebhookOut(
        id=hook.id,
        url=hook.url,
        types=list(hook.types),
        last_delivered_seq=hook.last_delivered_seq,
        failed_attempts=hook.failed_attempts,
        next_attempt_at=hook.next_attempt_at,
        created_at=hook.created_at,
        updated_at=hook.updated_at,
    )


async def upsert_webhook(db: AsyncSession, webhook_id: str, data: WebhookIn) -> tuple[WebhookOut, bool]:
    """Create or update a webhook. A new one starts after the feed's current end: it gets the events
    numbered from now on. An update keeps its cursor, so nothing is skipped or sent twice."""
    check_webhook_url(data.url)
    values = {"url": data.url, "types": sorted(set(data.types)), "secret": data.secret}
    feed_end = select(func.coalesce(func.max(OutboxEvent.seq), 0)).scalar_subquery()
    stmt = pg_insert(Webhook).values(id=webhook_id, last_delivered_seq=feed_end, **values)
    stmt = stmt.on_conflict_do_update(index_elements=[Webhook.id], set_={**values, "updated_at": func.now()})
    created = (await db.execute(stmt.returning(text("xmax = 0")))).scalar_one()
    return await get_webhook(db, webhook_id), bool(created)


async def get_webhook(db: AsyncSession, webhook_id: str) -> WebhookOut:
    hook = await db.get(Webhook, webhook_id, populate_existing=True)
    if hook is None:
        raise NotFound(f"No webhook with id {webhook_id!r}.")
    return webhook_out(hook)


async def list_webhooks(db: AsyncSession, *, limit: int, after: str | None) -> list[WebhookOut]:
    """Webhooks by id, with where each one is in the feed (`last_delivered_seq`) and its failures."""
    stmt = select(Webhook).order_by(Webhook.id).limit(limit)
    if after is not None:
        stmt = stmt.where(Webhook.id > after)
    return [webhook_out(hook) for hook in await db.scalars(stmt)]


async def delete_webhook(db: AsyncSession, webhook_id: str) -> None:
    hook = await db.get(Webhook, webhook_id)
    if hook is None:
        raise NotFound(f"No webhook with id {webhook_id!r}.")
    await db.delete(hook)
    await db.flush()


async def list_deliveries(db: AsyncSession, webhook_id: str, *, limit: int, before: int | None) -> list[DeliveryOut]:
    """Delivery attempts of a webhook, newest first."""
    await get_webhook(db, webhook_id)
    stmt = (
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if before is not None:
        stmt = stmt.where(WebhookDelivery.id < before)
    return [
        DeliveryOut(
            id=d.id,
            seq=d.seq,
            attempt=d.attempt,
            status_code=d.status_code,
            error=d.error,
            duration_ms=d.duration_ms,
            at=d.at,
            next_attempt_at=d.next_attempt_at,
        )
        for d in (await db.scalars(stmt)).all()
    ]
