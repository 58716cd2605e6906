from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import Base


class Cart(Base):
    """A shopper's cart. Its id is the capability to use it; `version` guards concurrent edits."""

    __tablename__ = "carts"
    __table_args__ = (
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        CheckConstraint("status IN ('active', 'merged', 'checked_out')", name="status"),
        Index("uq_carts_active_customer", "customer_id", unique=True, postgresql_where=text("status = 'active'")),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customers.id"))
    currency: Mapped[str] = mapped_column(String(3), server_default="USD")
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    codes: Mapped[list[str]] = mapped_column(ARRAY(String(64)), server_default="{}")
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    merged_into: Mapped[str | None] = mapped_column(ForeignKey("carts.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CartLine(Base):
    """One SKU in a cart with how it is fulfilled: shipped (no pickup store) or picked up at a store."""

    __tablename__ = "cart_lines"
    __table_args__ = (
        CheckConstraint("quantity BETWEEN 1 AND 999", name="quantity"),
        # One line per SKU and fulfillment; shipping (NULL store) counts as one fulfillment too.
        UniqueConstraint("cart_id", "sku", "pickup_store", postgresql_nulls_not_distinct=True),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    cart_id: Mapped[str] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"))
    sku: Mapped[str] = mapped_column(ForeignKey("variants.sku", ondelete="CASCADE"), index=True)
    pickup_store: Mapped[str | None] = mapped_column(ForeignKey("stores.code"))
    quantity: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
