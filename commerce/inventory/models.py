from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import Base


class InventoryLevel(Base):
    """Stock of one SKU at one location. `available = on_hand - reserved - safety_stock`, shown >= 0."""

    __tablename__ = "inventory_levels"
    __table_args__ = (
        CheckConstraint("reserved >= 0", name="reserved"),
        CheckConstraint("safety_stock >= 0", name="safety_stock"),
        Index(
            "ix_inventory_levels_sku", "sku", "store_code", postgresql_include=["on_hand", "reserved", "safety_stock"]
        ),
        # Levels with stock to promise: listings filtered by stores probe it (revision 0005).
        Index(
            "ix_inventory_levels_in_stock",
            "store_code",
            "sku",
            postgresql_where=text("on_hand - reserved - safety_stock >= 1"),
        ),
    )

    store_code: Mapped[str] = mapped_column(ForeignKey("stores.code"), primary_key=True)
    sku: Mapped[str] = mapped_column(ForeignKey("variants.sku"), primary_key=True)
    # 64-bit: no run of adjustments, receipts or counts can overflow them (revision 0013).
    on_hand: Mapped[int] = mapped_column(BigInteger, server_default="0")
    reserved: Mapped[int] = mapped_column(BigInteger, server_default="0")
    safety_stock: Mapped[int] = mapped_column(BigInteger, server_default="0")
    counted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LedgerEntry(Base):
    """One change to a level: how on_hand and reserved moved, why, who did it, and the result."""

    __tablename__ = "inventory_ledger"
    __table_args__ = (Index("ix_inventory_ledger_level", "store_code", "sku", text("id DESC")),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    store_code: Mapped[str] = mapped_column(String(64))
    sku: Mapped[str] = mapped_column(String(64))
    delta: Mapped[int] = mapped_column(BigInteger)
    reserved_delta: Mapped[int] = mapped_column(BigInteger, server_default="0")
    reason: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(100))
    reference: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    on_hand_after: Mapped[int] = mapped_column(BigInteger)
    reserved_after: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # When the change happened, if not when it was recorded (an offline till's sale); see pos/rules.py.
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Reservation(Base):
    """Units held at a location for `reference` (an order line) until consumed, released or expired."""

    __tablename__ = "reservations"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("status IN ('active', 'consumed', 'released')", name="status"),
        ForeignKeyConstraint(
            ["store_code", "sku"],
            ["inventory_levels.store_code", "inventory_levels.sku"],
            name="fk_reservations_level",
        ),
        Index("ix_reservations_reference", "reference"),
        Index("ix_reservations_active_level", "store_code", "sku", postgresql_where=text("status = 'active'")),
        Index("ix_reservations_active_expiry", "expires_at", postgresql_where=text("status = 'active'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    store_code: Mapped[str] = mapped_column(String(64))
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
