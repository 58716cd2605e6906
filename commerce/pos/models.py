from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, String, func, text
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
    )

    store_code: Mapped[str] = mapped_column(ForeignKey("stores.code"), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    terminal_id: Mapped[str | None] = mapped_column(String(100))
    loyalty_id: Mapped[str | None] = mapped_column(String(100))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), server_default="applied")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
