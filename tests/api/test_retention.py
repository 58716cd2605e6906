"""Retention: idempotency records, the webhook delivery log and the feed are deleted after their time,
the feed only from its start and never past what a webhook still needs; an expired position is 410."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from commerce.events.relay import relay_once
from commerce.retention import purge
from tests.conftest import ADMIN

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


async def emit(db_conn, app, ages_in_days: list[float]) -> None:
    """Numbered events (seq 1, 2, ...) that occurred the given number of days before NOW."""
    for age in ages_in_days:
        await db_conn.execute(
            "INSERT INTO events (type, data, occurred_at) VALUES ('product.changed', '{}', $1)",
            NOW - timedelta(days=age),
        )
    assert await relay_once(app.state.sessionmaker) == len(ages_in_days)


async def seqs(db_conn) -> list[int]:
    return [r["seq"] for r in await db_conn.fetch("SELECT seq FROM events ORDER BY seq")]


async def test_idempotency_records_and_delivery_log_go_after_their_retention(app, db_conn) -> None:
    await db_conn.execute(
        "INSERT INTO idempotency_keys (principal, key, request_hash, status_code, body, created_at)"
        " VALUES ('k1', 'old', 'h', 201, '\\x00', $1), ('k1', 'new', 'h', 201, '\\x00', $2)",
        NOW - timedelta(hours=25),
        NOW - timedelta(hours=23),
    )
    await db_conn.execute(
        "INSERT INTO webhooks (id, url, types, secret) VALUES ('w', 'http://127.0.0.1:9/x', '{order.placed}', $1)",
        "s" * 16,
    )
    await db_conn.execute(
        "INSERT INTO webhook_deliveries (webhook_id, seq, attempt, status_code, duration_ms, at)"
        " VALUES ('w', 1, 1, 200, 5, $1), ('w', 2, 1, 200, 5, $2)",
        NOW - timedelta(days=8),
        NOW - timedelta(days=6),
    )
    purged = await purge(app.state.sessionmaker, app.state.settings, now=NOW)
    assert (purged.idempotency_keys, purged.webhook_deliveries) == (1, 1)
    assert await db_conn.fetchval("SELECT array_agg(key) FROM idempotency_keys") == ["new"]
    assert await db_conn.fetchval("SELECT array_agg(seq) FROM webhook_deliveries") == [2]
    again = await purge(app.state.sessionmaker, app.state.settings, now=NOW)
    assert again == type(again)(0, 0, 0)


async def test_feed_is_cut_from_its_start_only_and_an_expired_position_is_410(app, client, db_conn) -> None:
    # seq 3 is old but comes after a recent event: deleting it would leave a hole, so it stays.
    await emit(db_conn, app, [9, 8, 1, 9, 0.5])
    purged = await purge(app.state.sessionmaker, app.state.settings, now=NOW)
    assert purged.events == 2
    assert await seqs(db_conn) == [3, 4, 5]

    r = await client.get("/v1/events", params={"after": 1}, headers=ADMIN)
    assert r.status_code == 410, r.text
    assert r.json()["code"] == "feed_position_expired"
    assert r.json()["first_seq"] == 3
    assert "after=2" in r.json()["detail"]
    # Reading on from the last deleted position, or from the start, is fine.
    for after, first in ((2, 3), (0, 3), (3, 4)):
        r = await client.get("/v1/events", params={"after": after}, headers=ADMIN)
        assert r.status_code == 200, r.text
        assert r.json()["items"][0]["seq"] == first
    r = await client.get("/v1/events", params={"after": 5}, headers=ADMIN)
    assert r.json() == {"items": [], "next_after": 5}


async def test_feed_keeps_what_a_webhook_still_needs_and_always_its_newest_event(app, db_conn) -> None:
    await emit(db_conn, app, [30, 29, 28, 27])
    await db_conn.execute(
        "INSERT INTO webhooks (id, url, types, secret, last_delivered_seq)"
        " VALUES ('slow', 'http://127.0.0.1:9/x', '{product.changed}', $1, 1)",
        "s" * 16,
    )
    await purge(app.state.sessionmaker, app.state.settings, now=NOW)
    assert await seqs(db_conn) == [2, 3, 4]  # the webhook has had seq 1 only

    await db_conn.execute("DELETE FROM webhooks")
    await purge(app.state.sessionmaker, app.state.settings, now=NOW)
    assert await seqs(db_conn) == [4]  # all old, but the relay numbers on from the newest one
    await emit(db_conn, app, [0])
    assert await seqs(db_conn) == [4, 5]


async def test_cli_purge_deletes_and_reports(database_url: str, db_conn) -> None:
    import asyncio
    import os
    import subprocess
    import sys

    await db_conn.execute(
        "INSERT INTO idempotency_keys (principal, key, request_hash, status_code, body, created_at)"
        " VALUES ('k1', 'old', 'h', 201, '\\x00', now() - interval '2 days')"
    )
    env = {**os.environ, "DATABASE_URL": database_url, "COMMERCE_IDEMPOTENCY_RETENTION_HOURS": "36"}
    out = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "commerce", "purge"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Deleted 1 idempotency record(s), 0 webhook delivery log row(s) and 0 feed event(s)" in out.stderr
    assert await db_conn.fetchval("SELECT count(*) FROM idempotency_keys") == 0


async def test_the_service_runs_the_retention_job_when_background_workers_are_on(settings, db_conn) -> None:
    import msgspec

    from commerce.app import create_app
    from tests.api.test_webhooks import eventually

    await db_conn.execute(
        "INSERT INTO idempotency_keys (principal, key, request_hash, status_code, body, created_at)"
        " VALUES ('k1', 'old', 'h', 201, '\\x00', now() - interval '2 days')"
    )
    service = create_app(msgspec.structs.replace(settings, background_workers=True, retention_sweep_seconds=0.05))
    async with service.lifespan():
        await eventually(lambda: db_conn.fetchval("SELECT count(*) = 0 FROM idempotency_keys"))
