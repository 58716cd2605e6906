from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, Integer, SmallInteger, String, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import Base


class CustomerProfile(Base):
    """A customer's facts across every channel, kept current as their purchases land."""

    __tablename__ = "customer_profiles"

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    orders_count: Mapped[int] = mapped_column(Integer, server_default="0")
    lifetime_values: Mapped[dict[str, int]] = mapped_column(JSONB, server_default="{}")
    first_order_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_order_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    channels: Mapped[dict[str, int]] = mapped_column(JSONB, server_default="{}")
    store_visits: Mapped[dict[str, int]] = mapped_column(JSONB, server_default="{}")
    last_store_visit_store: Mapped[str | None] = mapped_column(String(64))
    last_store_visit_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    skus: Mapped[list[str]] = mapped_column(ARRAY(String(64)), server_default="{}")
    categories: Mapped[list[str]] = mapped_column(ARRAY(String(120)), server_default="{}")
    recheck_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        Index("ix_customer_profiles_recheck_at", "recheck_at", postgresql_where="recheck_at IS NOT NULL"),
    )


class Segment(Base):
    __tablename__ = "segments"
    __table_args__ = (CheckConstraint("status IN ('backfilling', 'ready')", name="status"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    status: Mapped[str] = mapped_column(String(16), server_default="backfilling")
    backfill_after: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SegmentMember(Base):
    __tablename__ = "segment_members"
    __table_args__ = (Index("ix_segment_members_customer", "customer_id", "segment_id", unique=True),)

    segment_id: Mapped[str] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SegmentFeedCursor(Base):
    __tablename__ = "segment_feed_cursor"
    __table_args__ = (CheckConstraint("id = 1", name="one"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    after_seq: Mapped[int | None] = mapped_column(BigInteger)
    rebuild_after: Mapped[uuid.UUID | None]
    rebuild_from_seq: Mapped[int | None] = mapped_column(BigInteger)
