"""Configuration: read once from the environment into one frozen struct."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import msgspec
import platformdirs


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("commerce", appauthor=False))


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the service reads from its environment.

    `database_url` empty means: the CLI starts an embedded PostgreSQL and fills it in.
    """

    database_url: str | None = None
    admin_token: str | None = None
    # Promotions: a percent discount above this needs an override with a reason.
    discount_ceiling_percent: int = 50
    # Availability at or below this (and above zero) shows as low stock / limited availability.
    low_stock_threshold: int = 5
    # How long a pickup order is held after it could first be ready.
    pickup_hold_minutes: int = 2 * 24 * 60
    # How often the in-service sweeper looks for pickup orders past their hold.
    expiry_sweep_seconds: float = 30.0
    # Seconds an API key or customer token lookup is cached in-process. Revoking customer tokens takes
    # effect at once in the process that revoked them, in the others within this; a token never
    # outlives its expiry.
    auth_cache_seconds: float = 30.0
    db_pool_size: int = 10
    db_max_overflow: int = 10
    # Connections for the one-statement searches (a pool of their own, opened when needed).
    db_read_pool_size: int = 10
    # Checkout transactions in flight at once per worker (commerce/orders/batching.py); the checkouts that
    # arrive meanwhile wait in FIFO order, holding no connection, and go together in the next one.
    # None: 4, or db_pool_size if smaller; 0: no limit, each checkout in a transaction of its own at once.
    db_admission_limit: int | None = None
    # The longest a checkout waits for its transaction before it is answered 503 with Retry-After.
    db_admission_wait_seconds: float = 5.0
    # Checkouts one transaction places at most (1: one order per transaction).
    checkout_batch_max: int = 32
    # Background workers (expiry sweeper, event relay, webhook dispatcher) inside the service.
    background_workers: bool = True
    # Event relay: woken when a transaction that wrote events commits (LISTEN/NOTIFY, commerce/notify.py);
    # this is only the safety-net interval at which it looks for unnumbered rows without a wake-up.
    event_relay_interval_seconds: float = 5.0
    # Webhooks: woken when the relay numbered events; how often due webhooks are looked for anyway
    # (retries that came due, the safety net), the HTTP timeout, and the retry backoff
    # (exponential from `initial`, capped at `max`, plus up to `jitter` seconds of random jitter).
    webhook_poll_seconds: float = 1.0
    webhook_timeout_seconds: float = 10.0
    webhook_backoff_initial_seconds: float = 1.0
    webhook_backoff_max_seconds: float = 300.0
    webhook_backoff_jitter_seconds: float = 1.0
    # Retention (commerce/retention.py): how long each kind of record is kept, and how often the
    # service deletes what is past it.
    idempotency_retention_hours: float = 24.0
    event_retention_days: float = 7.0
    webhook_delivery_retention_days: float = 7.0
    retention_sweep_seconds: float = 300.0
    # Segments: the membership worker is woken when the relay numbered events; this is how often it
    # runs anyway (time-based rechecks, backfills, the safety net).
    segment_refresh_seconds: float = 5.0
    # Ads: how long after a click an in-store purchase counts as a conversion of it, per network; the
    # conversion name of the Google click-conversion upload; the region assumed for phone numbers
    # written without a country code (ISO 3166-1 alpha-2).
    ads_google_window_days: int = 90
    ads_meta_window_days: int = 28
    ads_google_conversion_name: str = "In-store purchase"
    ads_phone_region: str = "US"
    # Customers' phones are stored in E.164; one written without a country code is read as a number of
    # this region (ISO 3166-1 alpha-2).
    default_phone_region: str = "US"
    log_level: str = "INFO"
    # --- public pages ---
    # The service's public address (scheme and host, no trailing slash) for absolute links: the feed's
    # `link_template`, QR codes, JSON-LD. Unset: taken from each request's own address.
    public_url: str | None = None
    # --- Operations (docs/OPERATIONS.md) ---
    # Bearer token GET /metrics requires when set (open otherwise: keep it off the public network).
    metrics_token: str | None = None
    # "text" (human lines) or "json" (one JSON object a line, with the request id, and an access line a request).
    log_format: str = "text"
    # A streaming replica for the one-statement searches; the primary answers them when unset or down.
    database_read_url: str | None = None
    # DATABASE_URL goes through a transaction-mode pooler (PgBouncer): no server-side prepared statement
    # outlives its transaction and no setting is sent in the startup packet.
    db_transaction_pooler: bool = False
    # A direct session connection to the same database for LISTEN (commerce/notify.py), for when
    # DATABASE_URL goes through a transaction pooler; unset there, background workers poll instead.
    database_listen_url: str | None = None
    # OpenTelemetry tracing is on only when an OTLP endpoint is set (the standard variable).
    otel_endpoint: str | None = None
    # --- end Operations ---

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def flag(name: str, default: bool) -> bool:
            raw = env.get(name)
            return default if raw is None else raw.strip().lower() in {"1", "true", "yes", "on"}

        return cls(
            database_url=env.get("DATABASE_URL") or None,
            admin_token=env.get("COMMERCE_ADMIN_TOKEN") or None,
            discount_ceiling_percent=int(env.get("COMMERCE_DISCOUNT_CEILING_PERCENT", "50")),
            low_stock_threshold=int(env.get("COMMERCE_LOW_STOCK_THRESHOLD", "5")),
            pickup_hold_minutes=int(env.get("COMMERCE_PICKUP_HOLD_MINUTES", str(2 * 24 * 60))),
            expiry_sweep_seconds=float(env.get("COMMERCE_EXPIRY_SWEEP_SECONDS", "30")),
            auth_cache_seconds=float(env.get("COMMERCE_AUTH_CACHE_SECONDS", "30")),
            db_pool_size=int(env.get("COMMERCE_DB_POOL_SIZE", "10")),
            db_max_overflow=int(env.get("COMMERCE_DB_MAX_OVERFLOW", "10")),
            db_read_pool_size=int(env.get("COMMERCE_DB_READ_POOL_SIZE", "10")),
            db_admission_limit=int(env["COMMERCE_DB_ADMISSION_LIMIT"])
            if env.get("COMMERCE_DB_ADMISSION_LIMIT")
            else None,
            db_admission_wait_seconds=float(env.get("COMMERCE_DB_ADMISSION_WAIT_SECONDS", "5")),
            checkout_batch_max=int(env.get("COMMERCE_CHECKOUT_BATCH_MAX", "32")),
            background_workers=flag("COMMERCE_BACKGROUND_WORKERS", True),
            event_relay_interval_seconds=float(env.get("COMMERCE_EVENT_RELAY_INTERVAL_SECONDS", "5")),
            webhook_poll_seconds=float(env.get("COMMERCE_WEBHOOK_POLL_SECONDS", "1")),
            webhook_timeout_seconds=float(env.get("COMMERCE_WEBHOOK_TIMEOUT_SECONDS", "10")),
            webhook_backoff_initial_seconds=float(env.get("COMMERCE_WEBHOOK_BACKOFF_INITIAL_SECONDS", "1")),
            webhook_backoff_max_seconds=float(env.get("COMMERCE_WEBHOOK_BACKOFF_MAX_SECONDS", "300")),
            webhook_backoff_jitter_seconds=float(env.get("COMMERCE_WEBHOOK_BACKOFF_JITTER_SECONDS", "1")),
            idempotency_retention_hours=float(env.get("COMMERCE_IDEMPOTENCY_RETENTION_HOURS", "24")),
            event_retention_days=float(env.get("COMMERCE_EVENT_RETENTION_DAYS", "7")),
            webhook_delivery_retention_days=float(env.get("COMMERCE_WEBHOOK_DELIVERY_RETENTION_DAYS", "7")),
            retention_sweep_seconds=float(env.get("COMMERCE_RETENTION_SWEEP_SECONDS", "300")),
            segment_refresh_seconds=float(env.get("COMMERCE_SEGMENT_REFRESH_SECONDS", "5")),
            ads_google_window_days=int(env.get("COMMERCE_ADS_GOOGLE_WINDOW_DAYS", "90")),
            ads_meta_window_days=int(env.get("COMMERCE_ADS_META_WINDOW_DAYS", "28")),
            ads_google_conversion_name=env.get("COMMERCE_ADS_GOOGLE_CONVERSION_NAME", "In-store purchase"),
            ads_phone_region=env.get("COMMERCE_ADS_PHONE_REGION", "US").upper(),
            default_phone_region=env.get("COMMERCE_DEFAULT_PHONE_REGION", "US").upper(),
            log_level=env.get("COMMERCE_LOG_LEVEL", "INFO").upper(),
            public_url=public_url(env.get("COMMERCE_PUBLIC_URL")),
            # --- Operations ---
            metrics_token=env.get("COMMERCE_METRICS_TOKEN") or None,
            log_format=env.get("COMMERCE_LOG_FORMAT", "text").strip().lower(),
            database_read_url=env.get("DATABASE_READ_URL") or None,
            db_transaction_pooler=flag("COMMERCE_DB_TRANSACTION_POOLER", False),
            database_listen_url=env.get("DATABASE_LISTEN_URL") or None,
            otel_endpoint=env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None,
            # --- end Operations ---
        )


def public_url(raw: str | None) -> str | None:
    """`COMMERCE_PUBLIC_URL` checked: an absolute http(s) URL, kept without its trailing slash."""
    if not raw or not raw.strip():
        return None
    url = raw.strip().rstrip("/")
    scheme, sep, rest = url.partition("://")
    if scheme not in ("http", "https") or not sep or not rest or any(c in rest for c in "?# "):
        raise ValueError(
            f"COMMERCE_PUBLIC_URL must be an absolute http(s) URL such as https://shop.example.com, got {raw!r}"
        )
    return url
