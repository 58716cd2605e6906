from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, String, Uuid, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import Base


class PosEvent(Base):
    """A till event that was applied; its key (store, event id) makes every replay a no-op."""

    __tablename__ = "pos_events"
    __table_args__ = (
        CheckConstraint("type IN ('sale', 'return', 'count', 'receipt')", name="type"),
        CheckConstraint("status IN ('applied')", name="status"),
        # A customer's till sales and returns, newest first (purchase history, profiles).
        Index(
            "ix_pos_events_customer",
            "customer_id",
            "occurred_at",
            "store_code",
            "event_id",
            postgresql_where=text("customer_id IS NOT NULL"),
        ),
        # In-store purchases by time: customers' sales for the ad exports and the omnichannel report, those
        # with their stored value read from the index alone (the report reads a year of them).
        Index(
            "ix_pos_events_customer_sales_at",
            "occurred_at",
            postgresql_include=["customer_id", "total_minor", "currency"],
            postgresql_where=text("customer_id IS NOT NULL AND type = 'sale' AND total_minor IS NOT NULL"),
        ),
        # The few customers' sales without a stored value (a line rung up without a price), valued when read.
        Index(
            "ix_pos_events_unvalued_sales_at",
            "occurred_at",
            postgresql_where=text("customer_id IS NOT NULL AND type = 'sale' AND total_minor IS NULL"),
        ),
    )

    store_code: Mapped[str] = mapped_column(ForeignKey("stores.code"), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    terminal_id: Mapped[str | None] = mapped_column(String(100))
    loyalty_id: Mapped[str | None] = mapped_column(String(100))
    # The customer a sale or return was linked to when it was applied (by its loyalty id, email or phone).
    # No foreign key: customers are never deleted, and the till's hot insert skips a check per row.
    customer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    # A sale's or return's value at the till's prices (a return's negative), stored at ingest; NULL for
    # a count or receipt, and when a line was rung up without a price.
    total_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), server_default="applied")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
