from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
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
        Index("uq_promotions_code", "code_key", unique=True),
        CheckConstraint("per_customer_limit IS NULL OR per_customer_limit > 0", name="per_customer_limit"),
        CheckConstraint("total_limit IS NULL OR total_limit > 0", name="total_limit"),
        CheckConstraint("redemptions >= 0", name="redemptions"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    skus: Mapped[list[str] | None] = mapped_column(ARRAY(String(64)))
    categories: Mapped[list[str] | None] = mapped_column(ARRAY(String(120)))
    code: Mapped[str | None] = mapped_column(String(64))
    # The code as promotions.rules.normalise_code makes it: codes are looked up and kept unique by it.
    code_key: Mapped[str | None] = mapped_column(String(64))
    channels: Mapped[list[str] | None] = mapped_column(ARRAY(String(16)))
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    priority: Mapped[int] = mapped_column(Integer, server_default="0")
    killed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    override_reason: Mapped[str | None] = mapped_column(Text)
    override_by: Mapped[str | None] = mapped_column(String(64))
    override_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Only customers in one of these segments qualify (NULL: everyone, anonymous carts included).
    segments: Mapped[list[str] | None] = mapped_column(ARRAY(String(64)))
    per_customer_limit: Mapped[int | None] = mapped_column(Integer)
    total_limit: Mapped[int | None] = mapped_column(Integer)
    # Orders counted against total_limit (counted only while a total_limit is set).
    redemptions: Mapped[int] = mapped_column(Integer, server_default="0")
    single_use_codes: Mapped[bool] = mapped_column(Boolean, server_default="false")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PromotionsVersion(Base):
    """One row whose `version` changes (to a new random value) in the transaction of every statement that
    inserts, deletes or truncates promotions or changes their terms (any column but `redemptions`): a
    trigger does it (migration 0021), so no writer can forget. Each process keeps the live promotions in
    memory and reads this row when it prices a cart to know whether they are current (promotions/live.py)."""

    __tablename__ = "promotions_version"
    __table_args__ = (CheckConstraint("id", name="one_row"),)

    id: Mapped[bool] = mapped_column(Boolean, primary_key=True, server_default=text("true"))
    version: Mapped[uuid.UUID] = mapped_column(server_default=func.gen_random_uuid())


class PromotionCustomerRedemptions(Base):
    """How many orders of one customer a promotion with a per_customer_limit has priced."""

    __tablename__ = "promotion_customer_redemptions"
    __table_args__ = (CheckConstraint("redemptions >= 0", name="redemptions"),)

    promotion_id: Mapped[str] = mapped_column(ForeignKey("promotions.id", ondelete="CASCADE"), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    redemptions: Mapped[int] = mapped_column(Integer)


class PromotionCode(Base):
    """A single-use code: redeemed by at most one order at a time (given back if that order is cancelled)."""

    __tablename__ = "promotion_codes"
    __table_args__ = (Index("ix_promotion_codes_promotion", "promotion_id", "code_key"),)

    code_key: Mapped[str] = mapped_column(String(80), primary_key=True)
    code: Mapped[str] = mapped_column(String(80))
    promotion_id: Mapped[str] = mapped_column(ForeignKey("promotions.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    redeemed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    order_id: Mapped[uuid.UUID | None]


class PromotionRedemption(Base):
    """What one order counted against a promotion's limits and codes, so cancelling gives exactly that back."""

    __tablename__ = "promotion_redemptions"

    order_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    promotion_id: Mapped[str] = mapped_column(ForeignKey("promotions.id", ondelete="CASCADE"), primary_key=True)
    customer_id: Mapped[uuid.UUID | None]
    counted_total: Mapped[bool] = mapped_column(Boolean)
    code_key: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
