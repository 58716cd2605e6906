from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import Base


class PosEvent(Base):
    """A till event that was applied; its key (store, event id) makes every replay a no-op."""

    __tablename__ = "pos_events"
    __table_args__ = (
        CheckConstraint("type IN ('sale', 'return', 'count', 'receipt')", name="type"),
        CheckConstraint("status IN ('applied')", name="status"),
        Index(
            "ix_pos_events_loyalty_id",
            "loyalty_id",
            "occurred_at",
            "store_code",
            "event_id",
            postgresql_where=text("loyalty_id IS NOT NULL"),
        ),
        # In-store purchases by time: loyalty sales for the ad exports and the omnichannel report, those with
        # their stored value read from the index alone (the report reads a year of them).
        Index(
            "ix_pos_events_loyalty_sales_at",
            "occurred_at",
            postgresql_include=["loyalty_id", "total_minor", "currency"],
            postgresql_where=text("loyalty_id IS NOT NULL AND type = 'sale' AND total_minor IS NOT NULL"),
        ),
        Index(
            "ix_pos_events_unvalued_sales_at",
            "occurred_at",
            postgresql_where=text("loyalty_id IS NOT NULL AND type = 'sale' AND total_minor IS NULL"),
        ),
    )

    store_code: Mapped[str] = mapped_column(ForeignKey("stores.code"), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    terminal_id: Mapped[str | None] = mapped_column(String(100))
    loyalty_id: Mapped[str | None] = mapped_column(String(100))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    # A sale's or return's value at the till's prices (a return's negative), stored at ingest; NULL for
    # a count or receipt, and when a line was rung up without a price.
    total_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), server_default="applied")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
