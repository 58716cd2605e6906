"""`commerce bridge nats`: the feed in a JetStream stream, every event once and in order, across a kill -9.

Debian's nats-server is started here with JetStream on a free loopback port and a temporary store.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from commerce.db import driver_dsn, make_engine, make_sessionmaker
from commerce.events.bridge import BridgeConfig, LockLost, NatsBridge
from commerce.events.relay import relay_once
from commerce.retention import purge
from tests.api.test_retention import NOW, seqs
from tests.api.test_retention import emit as emit_aged
from tests.api.test_webhooks import eventually
from tests.ops.clusters import free_port, wait_for_port

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
STREAM = "COMMERCE_EVENTS"


@pytest.fixture
def nats_url() -> Iterator[str]:
    if not Path(NATS_SERVER).exists():
        pytest.skip("nats-server is not installed (apt-get install nats-server)")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="commerce-nats-") as store:
        proc = subprocess.Popen(
            [NATS_SERVER, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(port, 15)
            yield f"nats://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(10)


@pytest.fixture
async def sessionmaker(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(database_url, null_pool=True)
    yield make_sessionmaker(engine)
    await engine.dispose()


def start_bridge(database_url: str, nats_url: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "commerce", "bridge", "nats", "--url", nats_url],
            env={**os.environ, "DATABASE_URL": database_url},
            stdout=out,
            stderr=out,
        )


async def emit(db_conn, sessionmaker, n: int) -> None:
    await db_conn.execute(
        "INSERT INTO events (type, data) SELECT CASE WHEN i % 3 = 0 THEN 'order.placed' ELSE 'inventory.changed' END, "
        "jsonb_build_object('i', i) FROM generate_series(1, $1) i",
        n,
    )
    await relay_once(sessionmaker)


async def test_a_killed_bridge_restarts_and_the_stream_has_every_event_once_in_order(
    database_url: str, db_conn, sessionmaker, nats_url: str, tmp_path: Path
) -> None:
    await emit(db_conn, sessionmaker, 4000)
    nc = await nats.connect(nats_url)
    js = nc.jetstream()

    async def in_stream() -> int:
        try:
            return int((await js.stream_info(STREAM)).state.messages)
        except nats.js.errors.NotFoundError:
            return 0

    bridge = start_bridge(database_url, nats_url, tmp_path / "bridge.log")
    try:
        await eventually(lambda: in_stream_at_least(in_stream, 300))
        bridge.send_signal(signal.SIGKILL)  # no chance to finish its batch or save its cursor
        bridge.wait(10)
        at_kill = await in_stream()
        assert 300 <= at_kill < 4000, "killed mid-stream"
        cursor = await db_conn.fetchval("SELECT last_published_seq FROM event_bridges WHERE name = 'nats'")
        assert cursor is None or cursor <= at_kill  # never ahead of what JetStream acknowledged

        await emit(db_conn, sessionmaker, 100)  # the feed goes on while the bridge is down
        bridge = start_bridge(database_url, nats_url, tmp_path / "bridge.log")
        await eventually(lambda: in_stream_at_least(in_stream, 4100))
        await eventually(lambda: db_conn.fetchval("SELECT last_published_seq = 4100 FROM event_bridges"))
        await emit(db_conn, sessionmaker, 5)  # and it follows new events
        await eventually(lambda: in_stream_at_least(in_stream, 4105))
        bridge.send_signal(signal.SIGTERM)
        assert bridge.wait(15) == 0, (tmp_path / "bridge.log").read_text()
    finally:
        if bridge.poll() is None:
            bridge.kill()
            bridge.wait()

    assert await in_stream() == 4105
    sub = await js.pull_subscribe("commerce.events.>", stream=STREAM)
    seen: list[tuple[str, str, dict]] = []
    while len(seen) < 4105:
        for msg in await sub.fetch(1000, timeout=5):
            seen.append((msg.subject, msg.headers["Nats-Msg-Id"], json.loads(msg.data)))
            await msg.ack()
    await nc.close()
    assert [int(msg_id) for _, msg_id, _ in seen] == list(range(1, 4106))
    assert [body["seq"] for _, _, body in seen] == list(range(1, 4106))
    feed = await db_conn.fetch("SELECT seq, type, data FROM events ORDER BY seq")
    assert [(f"commerce.events.{r['type']}", r["seq"]) for r in feed] == [(s, b["seq"]) for s, _, b in seen]
    assert [json.loads(r["data"]) for r in feed] == [b["data"] for _, _, b in seen]


async def in_stream_at_least(in_stream, n: int) -> bool:
    return await in_stream() >= n


async def test_a_cursor_behind_the_stream_resumes_after_the_streams_last_event(
    db_conn, sessionmaker, nats_url: str
) -> None:
    """A crash between JetStream's acknowledgement and the cursor update, restarted after the duplicate
    window: the bridge continues after the stream's last Nats-Msg-Id, not from its stale cursor."""
    await emit(db_conn, sessionmaker, 10)
    config = BridgeConfig(url=nats_url, duplicate_window_seconds=0.5)
    first = NatsBridge(sessionmaker, config)
    await first.connect()
    assert await first.publish_pending() == 10
    await first.close()
    await db_conn.execute("UPDATE event_bridges SET last_published_seq = 4")  # as if the update was lost
    await asyncio.sleep(0.6)  # past the duplicate window: JetStream would take the repeats now
    await emit(db_conn, sessionmaker, 3)
    second = NatsBridge(sessionmaker, config)
    await second.connect()
    assert second.cursor == 10
    assert await second.publish_pending() == 3
    assert await second.last_seq_in_stream() == 13
    await second.close()
    assert await db_conn.fetchval("SELECT last_published_seq FROM event_bridges") == 13
    nc = await nats.connect(nats_url)
    try:
        assert (await nc.jetstream().stream_info(STREAM)).state.messages == 13
    finally:
        await nc.close()


async def test_a_second_bridge_of_the_same_name_stands_by_until_the_first_is_gone(
    database_url: str, sessionmaker, nats_url: str
) -> None:
    dsn = driver_dsn(database_url)
    stop = asyncio.Event()
    first, second = (NatsBridge(sessionmaker, BridgeConfig(url=nats_url)) for _ in range(2))
    assert await first.take_lock(dsn, stop)
    standby = asyncio.create_task(second.take_lock(dsn, stop))
    await asyncio.sleep(0.3)
    assert not standby.done()
    await first.close()  # its connection, and so its lock, is gone
    assert await asyncio.wait_for(standby, 5)
    with pytest.raises(LockLost):
        first.check_lock()
    await second.close()
    # Asked to stop while standing by: it gives up waiting.
    third = NatsBridge(sessionmaker, BridgeConfig(url=nats_url))
    holder = NatsBridge(sessionmaker, BridgeConfig(url=nats_url))
    assert await holder.take_lock(dsn, stop)
    waiting = asyncio.create_task(third.take_lock(dsn, stop))
    await asyncio.sleep(0.1)
    stop.set()
    assert await asyncio.wait_for(waiting, 5) is False
    await third.close()
    await holder.close()


async def test_retention_keeps_what_a_bridge_has_not_published(app, db_conn) -> None:

    await emit_aged(db_conn, app, [30, 29, 28, 27])
    await db_conn.execute("INSERT INTO event_bridges (name, target, last_published_seq) VALUES ('nats', 'x', 2)")
    await purge(app.state.sessionmaker, app.state.settings, now=NOW)
    assert await seqs(db_conn) == [3, 4]  # the bridge has published up to seq 2
    await db_conn.execute("UPDATE event_bridges SET last_published_seq = 4")
    await purge(app.state.sessionmaker, app.state.settings, now=NOW)
    assert await seqs(db_conn) == [4]
