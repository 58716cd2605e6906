from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, delete, get, put
from litestar.datastructures import State
from litestar.params import JSONBody, QueryParameter

from commerce.auth.guards import allow
from commerce.db import Db
from commerce.errors import Unprocessable, created_response, problem_responses
from commerce.events import service
from commerce.events.rules import SEQ_HEADER, SIGNATURE_HEADER, parse_types
from commerce.events.schemas import EVENT_TYPES, DeliveryOut, EventPage, WebhookIn, WebhookOut
from commerce.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from commerce.schemas import IdPath

WebhookIdPath = IdPath


class EventController(Controller):
    path = "/v1/events"
    tags = ["Events"]
    guards = [allow("integration")]

    @get(
        "/",
        summary="The ordered, gap-free change feed",
        description="Events in `seq` order after `after`. Page with `after=next_after`: a reader never misses an "
        "event, because an event gets its `seq` only once every transaction that could precede it has finished "
        "(a committed event shows up here within a fraction of a second, later only while a long transaction "
        f"is still running). Types: {', '.join(sorted(EVENT_TYPES))}.\n\n"
        "The feed keeps events for `COMMERCE_EVENT_RETENTION_DAYS` (7 by default), and always those a "
        "registered webhook has not been sent yet. `after=0` reads from the oldest event kept; a position "
        "older than that is 410 `feed_position_expired` (with `first_seq`), never a silent gap.",
        responses=problem_responses(401, 403, 410, 422),
    )
    async def list_events(
        self,
        db: Db,
        state: State,
        after: Annotated[
            int, QueryParameter(ge=0, description="Last seq already seen (0: from the oldest event kept)")
        ] = 0,
        types: Annotated[
            str | None, QueryParameter(max_length=500, description="Comma-separated event types; absent: all")
        ] = None,
        limit: Limit = 50,
    ) -> EventPage:
        return await service.list_events(
            db, after=after, types=parse_types(types), limit=limit, settings=state.settings
        )


class WebhookController(Controller):
    path = "/v1/webhooks"
    tags = ["Events"]
    guards = [allow("admin")]

    @put(
        "/{webhook_id:str}",
        summary="Create or update a webhook",
        description="Each matching event is POSTed to `url` as one JSON event `{seq, type, occurred_at, data}` "
        f"with `{SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256 of the body bytes with the secret>` and "
        f"`{SEQ_HEADER}`. Delivery is at least once and in seq order; a failing delivery is retried with "
        "exponential backoff (capped at a few minutes) and holds back the later events until it succeeds. "
        "A new webhook receives the events from its creation on. The secret is never returned.",
        responses={**created_response(WebhookOut), **problem_responses(401, 403, 422)},
    )
    async def upsert_webhook(
        self, db: Db, webhook_id: WebhookIdPath, data: JSONBody[WebhookIn]
    ) -> Response[WebhookOut]:
        hook, created = await service.upsert_webhook(db, webhook_id, data)
        return Response(hook, status_code=201 if created else 200)

    @get(
        "/",
        summary="Every webhook (without secrets)",
        description="By id. `last_delivered_seq` against the feed's end shows how far behind a receiver is; "
        "`failed_attempts` and `next_attempt_at` show one that is failing.",
        responses=problem_responses(401, 403, 422),
    )
    async def list_webhooks(self, db: Db, limit: Limit = 50, cursor: Cursor = None) -> Page[WebhookOut]:
        key = decode_cursor(cursor, 1)
        items = await service.list_webhooks(db, limit=limit, after=str(key[0]) if key else None)
        return Page(items=items, next_cursor=encode_cursor(items[-1].id) if len(items) == limit else None)

    @get("/{webhook_id:str}", summary="One webhook (without its secret)", responses=problem_responses(401, 403, 404))
    async def get_webhook(self, db: Db, webhook_id: WebhookIdPath) -> WebhookOut:
        return await service.get_webhook(db, webhook_id)

    @delete(
        "/{webhook_id:str}", summary="Remove a webhook and its delivery log", responses=problem_responses(401, 403, 404)
    )
    async def delete_webhook(self, db: Db, webhook_id: WebhookIdPath) -> None:
        await service.delete_webhook(db, webhook_id)

    @get(
        "/{webhook_id:str}/deliveries",
        summary="Delivery attempts, newest first",
        description="Each attempt: the event `seq`, the attempt number, the receiver's status code or the error, "
        "and for a failed attempt when it is retried.",
        responses=problem_responses(401, 403, 404, 422),
    )
    async def list_deliveries(
        self, db: Db, webhook_id: WebhookIdPath, limit: Limit = 50, cursor: Cursor = None
    ) -> Page[DeliveryOut]:
        key = decode_cursor(cursor, 1)
        if key is not None and not isinstance(key[0], int):
            raise Unprocessable(
                "`cursor` is not one this server issued; start again without it.", code="invalid_cursor"
            )
        items = await service.list_deliveries(db, webhook_id, limit=limit, before=key[0] if key else None)
        return Page(items=items, next_cursor=encode_cursor(items[-1].id) if len(items) == limit else None)
