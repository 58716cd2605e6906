from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import Base


class AdClick(Base):
    """A click on an ad, one row per (network, click id), joined to a customer by token or through a cart."""

    __tablename__ = "ad_clicks"
    __table_args__ = (
        CheckConstraint("network IN ('google', 'meta')", name="network"),
        CheckConstraint("click_id_type IN ('gclid', 'gbraid', 'wbraid', 'fbclid')", name="click_id_type"),
        UniqueConstraint("network", "click_id", name="uq_ad_clicks_network_click_id"),
        Index(
            "ix_ad_clicks_customer",
            "customer_id",
            "network",
            "clicked_at",
            "id",
            postgresql_where="customer_id IS NOT NULL",
        ),
        Index("ix_ad_clicks_network_clicked_at", "network", "clicked_at", postgresql_where="customer_id IS NOT NULL"),
        Index("ix_ad_clicks_unresolved", "cart_id", postgresql_where="customer_id IS NULL"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    network: Mapped[str] = mapped_column(String(16))
    click_id: Mapped[str] = mapped_column(String(512))
    click_id_type: Mapped[str] = mapped_column(String(8))
    clicked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    campaign: Mapped[str | None] = mapped_column(String(255))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    cart_id: Mapped[str | None] = mapped_column(ForeignKey("carts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
