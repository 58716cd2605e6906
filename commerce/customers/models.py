from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, String, func
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
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
