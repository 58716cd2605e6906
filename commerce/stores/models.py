from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, DateTime, Float, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import Base


class Store(Base):
    __tablename__ = "stores"
    __table_args__ = (
        CheckConstraint("kind IN ('store', 'warehouse')", name="kind"),
        CheckConstraint("latitude BETWEEN -90 AND 90 AND longitude BETWEEN -180 AND 180", name="coordinates"),
        CheckConstraint("pickup_lead_minutes >= 0", name="pickup_lead"),
        CheckConstraint("jsonb_typeof(opening_hours) = 'array'", name="opening_hours"),
        CheckConstraint("jsonb_typeof(special_hours) = 'array'", name="special_hours"),
        # Nearby queries: a bounding box on this GiST index, then the exact distance.
        Index("ix_stores_location", text("point(longitude, latitude)"), postgresql_using="gist"),
    )

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(String(64), server_default="UTC")
    pickup_enabled: Mapped[bool] = mapped_column(Boolean, server_default="false")
    pickup_lead_minutes: Mapped[int] = mapped_column(Integer, server_default="60")
    phone: Mapped[str | None] = mapped_column(String(32))
    # Validated by stores/rules.py: [{day, opens, closes}] and [{date, opens?, closes?, closed?}].
    opening_hours: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    special_hours: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
