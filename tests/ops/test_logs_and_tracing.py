"""Request ids in responses and in every JSON log line of the request; OpenTelemetry spans over OTLP."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import msgspec
import pytest

from commerce.observability.logs import JsonFormatter, install_record_factory, request_id
from commerce.settings import Settings
from tests.conftest import ADMIN, Api
from tests.ops.test_metrics import served


class Capture(logging.Handler):
    """Formats records with the service's JSON formatter, as the log handler would."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def captured() -> Iterator[Capture]:
    # On the service's own logger: creating an app reconfigures the root logger's handlers.
    handler = Capture()
    logger = logging.getLogger("commerce")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old)


async def test_a_request_id_is_taken_or_made_and_returned(client, api: Api) -> None:
    await api.store("LOOP")
    r = await client.get("/v1/stores/LOOP", headers={**ADMIN, "X-Request-Id": "lb-7f3a.1"})
    assert r.headers["x-request-id"] == "lb-7f3a.1"
    made = [(await client.get("/v1/stores/LOOP", headers=ADMIN)).headers["x-request-id"] for _ in range(2)]
    assert made[0] != made[1]
    assert all(len(m) == 32 for m in made)
    # An id that is not a sensible token (too long, spaces, control characters) is replaced.
    for bad in ("x" * 200, "two words", "a\tb"):
        r = await client.get("/v1/stores/LOOP", headers={**ADMIN, "X-Request-Id": bad})
        assert r.headers["x-request-id"] != bad
    # Error responses carry it too.
    r = await client.get("/v1/stores/NOPE", headers={**ADMIN, "X-Request-Id": "err-1"})
    assert (r.status_code, r.headers["x-request-id"]) == (404, "err-1")


async def test_json_log_lines_carry_the_request_id(settings: Settings, captured: Capture) -> None:
    async with served(msgspec.structs.replace(settings, log_format="json")) as client:
        r = await client.put(
            "/v1/webhooks/logged",
            json={"url": "http://127.0.0.1:9/x", "types": ["order.placed"], "secret": "s" * 20},
            headers={**ADMIN, "X-Request-Id": "req-42"},
        )
        assert r.status_code in (200, 201)
        logging.getLogger("commerce.test").info("outside any request")
    access = [line for line in captured.lines if line["logger"] == "commerce.access"]
    assert access, captured.lines
    line = access[-1]
    assert line["request_id"] == "req-42"
    assert (line["method"], line["route"], line["status"]) == ("PUT", "/v1/webhooks/{webhook_id}", r.status_code)
    assert line["duration_ms"] > 0
    assert line["level"] == "INFO"
    outside = [line for line in captured.lines if line["message"] == "outside any request"]
    assert outside[0]["request_id"] is None


async def test_lines_logged_while_a_request_runs_carry_its_id(captured: Capture) -> None:
    """The id is stamped on each record when it is made, in the request's task, whichever logger
    writes it and whenever a queue handler gets to format it."""
    install_record_factory()
    seen: dict[str, str | None] = {}

    async def handler_like(rid: str) -> None:
        token = request_id.set(rid)
        try:
            await asyncio.sleep(0)
            logging.getLogger("commerce.orders").warning("inside %s", rid)
        finally:
            request_id.reset(token)

    await asyncio.gather(*(handler_like(f"r{i}") for i in range(5)))
    for line in captured.lines:
        seen[line["message"]] = line["request_id"]
    assert seen == {f"inside r{i}": f"r{i}" for i in range(5)}


def test_an_unknown_log_format_is_refused(settings: Settings) -> None:
    from commerce.app import create_app

    with pytest.raises(ValueError, match="COMMERCE_LOG_FORMAT"):
        create_app(msgspec.structs.replace(settings, log_format="xml"))


class Collector:
    """An OTLP/HTTP trace receiver on 127.0.0.1 (protobuf bodies, as the exporter sends them)."""

    def __init__(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        self.spans: list[Any] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path == "/v1/traces":
                    request = ExportTraceServiceRequest()
                    request.ParseFromString(body)
                    for resource in request.resource_spans:
                        for scope in resource.scope_spans:
                            collector.spans.extend(scope.spans)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[Collector]:
    c = Collector()
    c.thread.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", c.url)
    yield c
    c.server.shutdown()
    c.server.server_close()


async def test_spans_for_requests_and_statements_go_to_the_otlp_endpoint(
    settings: Settings, api: Api, collector: Collector
) -> None:
    await api.store("LOOP", 41.88, -87.63)
    async with served(msgspec.structs.replace(settings, otel_endpoint=collector.url)) as client:
        r = await client.get("/v1/stores?near=41.88,-87.63&radius_km=5", headers=ADMIN)
        assert r.status_code == 200
    # Leaving the lifespan flushed the exporter.
    names = [s.name for s in collector.spans]
    server = [s for s in collector.spans if s.name == "GET /v1/stores"]
    assert server, names
    statements = [s for s in collector.spans if s.trace_id == server[0].trace_id and s is not server[0]]
    sql = [s for s in statements if any(a.key == "db.system" or a.key == "db.system.name" for a in s.attributes)]
    assert sql, names


def test_tracing_is_not_loaded_without_an_endpoint(settings: Settings) -> None:
    from commerce.observability.setup import Observability

    assert Observability(settings).tracing is None
    assert Observability(settings).plugins == []
