from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Identity, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import Base


class Customer(Base):
    """A shopper, linked across channels by any of their identifiers (each unique)."""

    __tablename__ = "customers"
    __table_args__ = (CheckConstraint("coalesce(email, phone, loyalty_id) IS NOT NULL", name="identifier"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    phone: Mapped[str | None] = mapped_column(String(32), unique=True)
    loyalty_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    email_consent: Mapped[bool] = mapped_column(Boolean, server_default="false")
    sms_consent: Mapped[bool] = mapped_column(Boolean, server_default="false")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ConsentChange(Base):
    """One change of a customer's marketing consent on one channel: what it became, when, and who changed it."""

    __tablename__ = "consent_changes"
    __table_args__ = (
        CheckConstraint("channel IN ('email', 'sms')", name="channel"),
        Index("ix_consent_changes_customer_id", "customer_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(8))
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(80))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
