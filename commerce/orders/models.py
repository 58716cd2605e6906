from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Identity, Index, Integer, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import Base


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(
            "(source IS NULL) = (external_id IS NULL) AND (source IS NULL) = (request_hash IS NULL)", name="import"
        ),
        Index(
            "uq_orders_source_external_id",
            "source",
            "external_id",
            unique=True,
            postgresql_where=text("source IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True)
    # Set for an order checked out from a cart; None for one imported from another system.
    cart_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    customer_id: Mapped[uuid.UUID | None]
    channel: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[int] = mapped_column(BigInteger)
    discount_total: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))
    pickup_store: Mapped[str | None] = mapped_column(ForeignKey("stores.code"))
    hold_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    shipped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # An imported order: the system it came from, its id there (unique together), the fingerprint of
    # the import body (a retry must match it) and when that system accepted it.
    source: Mapped[str | None] = mapped_column(String(32))
    external_id: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    placed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class OrderLine(Base):
    __tablename__ = "order_lines"

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(ForeignKey("variants.sku"))
    title: Mapped[str | None] = mapped_column(String(300))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(BigInteger)
    discount: Mapped[int] = mapped_column(BigInteger)
    line_total: Mapped[int] = mapped_column(BigInteger)
    promotion_id: Mapped[str | None] = mapped_column(String(64))
    fulfillment: Mapped[str] = mapped_column(String(8))
    location: Mapped[str] = mapped_column(ForeignKey("stores.code"))
    # Units the location could not reserve when an imported order arrived (never more than quantity).
    backordered: Mapped[int] = mapped_column(Integer, server_default="0")
