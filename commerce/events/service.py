"""The outbox: every change other systems care about is recorded in the transaction that makes it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.events.models import OutboxEvent


async def record(db: AsyncSession, type_: str, data: dict[str, Any]) -> None:
    await db.execute(insert(OutboxEvent).values(type=type_, data=data))


async def record_many(db: AsyncSession, events: list[tuple[str, dict[str, Any]]]) -> None:
    if events:
        await db.execute(insert(OutboxEvent), [{"type": t, "data": d} for t, d in events])
