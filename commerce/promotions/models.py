from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import Base


class Promotion(Base):
    """A percent or amount off, on everything or some SKUs / categories, maybe behind a code."""

    __tablename__ = "promotions"
    __table_args__ = (
        CheckConstraint("kind IN ('percent_off', 'amount_off')", name="kind"),
        CheckConstraint("value > 0", name="value"),
        CheckConstraint("kind <> 'percent_off' OR (value <= 100 AND currency IS NULL)", name="percent"),
        CheckConstraint("kind <> 'amount_off' OR currency IS NOT NULL", name="amount_currency"),
        CheckConstraint("starts_at IS NULL OR ends_at IS NULL OR ends_at > starts_at", name="window"),
        Index("uq_promotions_code", text("lower(code)"), unique=True, postgresql_where=text("code IS NOT NULL")),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    skus: Mapped[list[str] | None] = mapped_column(ARRAY(String(64)))
    categories: Mapped[list[str] | None] = mapped_column(ARRAY(String(120)))
    code: Mapped[str | None] = mapped_column(String(64))
    channels: Mapped[list[str] | None] = mapped_column(ARRAY(String(16)))
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    priority: Mapped[int] = mapped_column(Integer, server_default="0")
    killed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    override_reason: Mapped[str | None] = mapped_column(Text)
    override_by: Mapped[str | None] = mapped_column(String(64))
    override_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
