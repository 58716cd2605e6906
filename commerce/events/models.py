from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import Base


class OutboxEvent(Base):
    """An event written in the same transaction as the change it reports.

    `txid` is the writing transaction's id; the relay gives committed rows their feed number
    `seq` in commit-safe order, so a reader paging by `seq` never misses one.
    """

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_unsequenced", "txid", "id", postgresql_where=text("seq IS NULL")),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    txid: Mapped[int] = mapped_column(BigInteger, server_default=text("pg_current_xact_id()::text::bigint"))
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    type: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
