from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text, Uuid, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import Base


class OutboxEvent(Base):
    """An event written in the same transaction as the change it reports.

    The relay gives committed rows their feed number `seq` after they commit, so a reader paging by
    `seq` never misses one (see relay.py).
    """

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_unsequenced", "id", postgresql_where=text("seq IS NULL")),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    type: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Webhook(Base):
    """A subscriber: events of `types` are POSTed to `url`, signed with `secret`, in seq order.

    `last_delivered_seq` is the durable cursor; a dispatcher holds the lease while it delivers.
    """

    __tablename__ = "webhooks"
    __table_args__ = (
        CheckConstraint("cardinality(types) > 0", name="types"),
        CheckConstraint("length(secret) >= 16", name="secret"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    types: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    secret: Mapped[str] = mapped_column(Text)
    last_delivered_seq: Mapped[int] = mapped_column(BigInteger, server_default="0")
    failed_attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
    lease_owner: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WebhookDelivery(Base):
    """One attempt to deliver one event to one webhook: the receiver's status code or the error."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_webhook", "webhook_id", text("id DESC")),
        Index("ix_webhook_deliveries_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EventBridge(Base):
    """A bridge publishing the feed to a durable log (`commerce bridge nats`): its cursor.

    `last_published_seq` moves only after the log acknowledged every event up to it; retention keeps
    the events a bridge has not published yet, as it does for webhooks.
    """

    __tablename__ = "event_bridges"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    target: Mapped[str] = mapped_column(Text)
    last_published_seq: Mapped[int] = mapped_column(BigInteger, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
