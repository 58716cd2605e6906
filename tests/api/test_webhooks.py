"""Webhooks against a real HTTP receiver on 127.0.0.1: signatures, order, retries, restarts."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import msgspec
import pytest

from commerce.events.dispatch import WebhookDispatcher
from commerce.events.relay import run_relay
from commerce.settings import Settings
from tests.conftest import ADMIN

SECRET = "s3cret-s3cret-s3cret"


class Receiver:
    """A tiny HTTP server that records every POST and answers 500 while `failing` says so."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.failing: Callable[[int], bool] = lambda n: False
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    n = len(receiver.requests)
                    headers = {k.lower(): v for k, v in self.headers.items()} | {"path": self.path}
                    receiver.requests.append((headers, body))
                    status = 500 if receiver.failing(n) else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def accepted(self) -> list[dict[str, Any]]:
        """Bodies the receiver answered 2xx to, in arrival order."""
        with self._lock:
            return [json.loads(body) for n, (_, body) in enumerate(self.requests) if not self.failing(n)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()
    r.thread.join()


@pytest.fixture
def fast(settings: Settings) -> Settings:
    return msgspec.structs.replace(
        settings,
        webhook_poll_seconds=0.02,
        webhook_timeout_seconds=2.0,
        webhook_backoff_initial_seconds=0.02,
        webhook_backoff_max_seconds=0.1,
        webhook_backoff_jitter_seconds=0.01,
    )


@asynccontextmanager
async def workers(app, settings: Settings) -> AsyncIterator[WebhookDispatcher]:
    """The relay and one dispatcher, as a service process runs them."""
    dispatcher = WebhookDispatcher(app.state.sessionmaker, settings)
    stop = asyncio.Event()
    loops = [
        asyncio.create_task(run_relay(app.state.sessionmaker, 0.02, stop)),
        asyncio.create_task(dispatcher.run(stop)),
    ]
    try:
        yield dispatcher
    finally:
        stop.set()
        await asyncio.gather(*loops)
        await dispatcher.close()


async def eventually(check: Callable[[], Awaitable[bool]] | Callable[[], bool]) -> None:
    async with asyncio.timeout(15):
        while True:
            result = check()
            if isinstance(result, Awaitable):
                result = await result
            if result:
                return
            await asyncio.sleep(0.02)


async def emit(db_conn, type_: str, n: int) -> None:
    await db_conn.execute("INSERT INTO events (type, data) VALUES ($1, jsonb_build_object('n', $2::int))", type_, n)


async def subscribe(client, url: str, types: list[str], hook_id: str = "erp") -> dict[str, Any]:
    r = await client.put(f"/v1/webhooks/{hook_id}", json={"url": url, "types": types, "secret": SECRET}, headers=ADMIN)
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


async def test_put_and_get_a_webhook_without_its_secret(client) -> None:
    r = await client.put(
        "/v1/webhooks/erp",
        json={"url": "https://erp.example/hooks", "types": ["inventory.changed"], "secret": SECRET},
        headers=ADMIN,
    )
    assert r.status_code == 201
    body = r.json()
    assert "secret" not in body
    assert body["url"] == "https://erp.example/hooks"
    assert body["types"] == ["inventory.changed"]
    r = await client.put(
        "/v1/webhooks/erp",
        json={"url": "http://erp.example/v2", "types": ["order.placed", "inventory.changed"], "secret": SECRET},
        headers=ADMIN,
    )
    assert r.status_code == 200
    got = (await client.get("/v1/webhooks/erp", headers=ADMIN)).json()
    assert got["url"] == "http://erp.example/v2"
    assert got["types"] == ["inventory.changed", "order.placed"]
    assert "secret" not in got
    assert (await client.get("/v1/webhooks/nope", headers=ADMIN)).status_code == 404
    assert (await client.get("/v1/webhooks/nope/deliveries", headers=ADMIN)).status_code == 404


async def test_webhooks_are_listed_by_id_and_paged(client, api) -> None:
    for hook_id in ("wms", "erp", "crm"):
        await subscribe(client, f"https://{hook_id}.example/hooks", ["order.placed"], hook_id)
    first = (await client.get("/v1/webhooks", params={"limit": 2}, headers=ADMIN)).json()
    assert [h["id"] for h in first["items"]] == ["crm", "erp"]
    assert all("secret" not in h for h in first["items"])
    rest = (await client.get("/v1/webhooks", params={"cursor": first["next_cursor"]}, headers=ADMIN)).json()
    assert [h["id"] for h in rest["items"]] == ["wms"]
    assert rest["next_cursor"] is None
    assert (await client.get("/v1/webhooks", headers=await api.key("storefront"))).status_code == 403


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"url": "ftp://erp.example/hooks"}, "invalid_url"),
        ({"url": "erp.example/hooks"}, "invalid_url"),
        ({"url": "http://"}, "invalid_url"),
        ({"url": "javascript:alert(1)"}, "invalid_url"),
        ({"secret": "too-short"}, "validation_failed"),
        ({"types": ["order.teleported"]}, "validation_failed"),
        ({"types": []}, "validation_failed"),
        ({"extra": 1}, "validation_failed"),
    ],
)
async def test_bad_webhooks_are_rejected(client, db_conn, body, code) -> None:
    good = {"url": "https://erp.example/hooks", "types": ["inventory.changed"], "secret": SECRET}
    r = await client.put("/v1/webhooks/erp", json=good | body, headers=ADMIN)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == code
    assert await db_conn.fetchval("SELECT count(*) FROM webhooks") == 0


async def test_deliveries_are_signed_and_in_order_from_creation_on(app, client, db_conn, receiver, fast) -> None:
    await emit(db_conn, "inventory.changed", 0)  # before the webhook: not delivered
    async with workers(app, fast):
        await eventually(lambda: db_conn.fetchval("SELECT count(*) = 0 FROM events WHERE seq IS NULL"))
        await subscribe(client, receiver.url, ["inventory.changed", "order.placed"])
        for n in range(1, 13):
            await emit(db_conn, ["inventory.changed", "order.placed", "product.changed"][n % 3], n)
        await eventually(lambda: len(receiver.accepted()) == 8)
        await asyncio.sleep(0.1)

    assert len(receiver.requests) == 8  # nothing else, nothing twice
    seqs = []
    for headers, body in receiver.requests:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-commerce-signature"], expected)
        event = json.loads(body)
        assert set(event) == {"seq", "type", "occurred_at", "data"}
        assert headers["x-commerce-event-seq"] == str(event["seq"])
        assert headers["content-type"] == "application/json"
        assert event["type"] in {"inventory.changed", "order.placed"}
        seqs.append(event["seq"])
    assert seqs == sorted(seqs)
    assert [json.loads(b)["data"]["n"] for _, b in receiver.requests] == [n for n in range(1, 13) if n % 3 != 2]

    hook = (await client.get("/v1/webhooks/erp", headers=ADMIN)).json()
    assert hook["last_delivered_seq"] == 13
    assert hook["failed_attempts"] == 0
    deliveries = (await client.get("/v1/webhooks/erp/deliveries", params={"limit": 5}, headers=ADMIN)).json()
    assert [d["status_code"] for d in deliveries["items"]] == [200] * 5
    assert [d["seq"] for d in deliveries["items"]] == sorted(seqs, reverse=True)[:5]
    rest = await client.get("/v1/webhooks/erp/deliveries", params={"cursor": deliveries["next_cursor"]}, headers=ADMIN)
    assert len(rest.json()["items"]) == 3
    assert rest.json()["next_cursor"] is None


async def test_tampered_body_does_not_verify(receiver) -> None:
    from commerce.events.rules import sign

    body = b'{"seq":1,"type":"order.placed","occurred_at":"2026-11-23T00:00:00Z","data":{}}'
    assert sign(SECRET, body) != sign(SECRET, body.replace(b"1", b"2", 1))
    assert sign(SECRET, body) != sign("another-secret-of-16", body)


async def test_a_failing_receiver_gets_everything_in_order_once_it_recovers(
    app, client, db_conn, receiver, fast
) -> None:
    receiver.failing = lambda n: n < 4  # the first four requests get 500
    await subscribe(client, receiver.url, ["order.placed"])
    async with workers(app, fast):
        for n in range(5):
            await emit(db_conn, "order.placed", n)
        await eventually(lambda: len(receiver.accepted()) == 5)
        await asyncio.sleep(0.1)

    assert [e["data"]["n"] for e in receiver.accepted()] == [0, 1, 2, 3, 4]
    # The first event was tried five times; nothing after it was sent before it succeeded.
    assert [json.loads(b)["data"]["n"] for _, b in receiver.requests[:5]] == [0] * 5
    rows = await db_conn.fetch(
        "SELECT seq, attempt, status_code, error, next_attempt_at FROM webhook_deliveries ORDER BY id"
    )
    assert [(r["seq"], r["attempt"], r["status_code"]) for r in rows[:5]] == [
        (1, 1, 500),
        (1, 2, 500),
        (1, 3, 500),
        (1, 4, 500),
        (1, 5, 200),
    ]
    assert all(r["next_attempt_at"] is not None and r["error"] for r in rows[:4])
    assert rows[4]["next_attempt_at"] is None
    page = (await client.get("/v1/webhooks/erp/deliveries", headers=ADMIN)).json()
    assert page["items"][-1]["next_attempt_at"] is not None
    assert page["items"][-1]["status_code"] == 500


async def test_an_unreachable_receiver_is_retried_with_the_error_logged(app, client, db_conn, fast) -> None:
    await subscribe(client, "http://127.0.0.1:9/nothing-listens-here", ["order.placed"])
    async with workers(app, fast):
        await emit(db_conn, "order.placed", 1)
        await eventually(lambda: db_conn.fetchval("SELECT count(*) >= 3 FROM webhook_deliveries"))
    rows = await db_conn.fetch("SELECT attempt, status_code, error FROM webhook_deliveries ORDER BY id")
    assert [r["attempt"] for r in rows[:3]] == [1, 2, 3]
    assert all(r["status_code"] is None and "Connect" in r["error"] for r in rows)
    hook = await db_conn.fetchrow("SELECT last_delivered_seq, failed_attempts, lease_owner FROM webhooks")
    assert hook["last_delivered_seq"] == 0
    assert hook["failed_attempts"] >= 3
    assert hook["lease_owner"] is None  # given back on stop


async def test_a_restarted_dispatcher_neither_loses_nor_skips_events(app, client, db_conn, receiver, fast) -> None:
    await subscribe(client, receiver.url, ["inventory.changed"])
    async with workers(app, fast):
        for n in range(3):
            await emit(db_conn, "inventory.changed", n)
        await eventually(lambda: len(receiver.accepted()) == 3)
        receiver.failing = lambda n: n >= 3  # the receiver goes down
        await emit(db_conn, "inventory.changed", 3)
        await eventually(lambda: db_conn.fetchval("SELECT failed_attempts >= 2 FROM webhooks"))
    # Stopped while retrying: the cursor and the retry schedule are in the database.
    hook = await db_conn.fetchrow("SELECT last_delivered_seq, failed_attempts FROM webhooks")
    assert hook["last_delivered_seq"] == 3
    for n in range(4, 8):
        await emit(db_conn, "inventory.changed", n)  # written while no dispatcher runs
    receiver.failing = lambda n: False
    async with workers(app, fast):  # a new process
        await eventually(lambda: db_conn.fetchval("SELECT last_delivered_seq = 8 FROM webhooks"))
    delivered = [json.loads(b)["data"]["n"] for _, b in receiver.requests]
    # At least once and in order: each event arrives, and the first copy of each is in seq order.
    assert sorted(set(delivered)) == list(range(8))
    assert list(dict.fromkeys(delivered)) == list(range(8))


async def test_two_dispatchers_deliver_each_event_once_in_order(app, client, db_conn, receiver, fast) -> None:
    for i in range(3):
        await subscribe(client, f"{receiver.url}/{i}", ["order.placed"], hook_id=f"hook{i}")
    async with workers(app, fast), workers(app, fast):
        for n in range(10):
            await emit(db_conn, "order.placed", n)
        await eventually(lambda: len(receiver.requests) >= 30)
        await asyncio.sleep(0.2)
    assert len(receiver.requests) == 30
    per_hook: dict[str, list[int]] = {}
    for headers, body in receiver.requests:
        per_hook.setdefault(headers["path"], []).append(json.loads(body)["seq"])
    assert per_hook == {f"/hooks/{i}": list(range(1, 11)) for i in range(3)}
    assert await db_conn.fetchval("SELECT count(*) FROM webhook_deliveries") == 30


async def test_the_service_runs_relay_and_dispatcher_when_background_workers_are_on(
    client, db_conn, receiver, fast
) -> None:
    from commerce.app import create_app

    await subscribe(client, receiver.url, ["product.changed"])
    service = create_app(msgspec.structs.replace(fast, background_workers=True))
    async with service.lifespan():
        await emit(db_conn, "product.changed", 1)
        await eventually(lambda: len(receiver.accepted()) == 1)
    assert await db_conn.fetchval("SELECT seq FROM events") == 1
    assert await db_conn.fetchval("SELECT lease_owner FROM webhooks") is None
