"""Request ids and JSON log lines.

Every request gets an id: the caller's `X-Request-Id` when it sends a sensible one (so a load
balancer's or a client's id follows the request through), a new one otherwise. It is returned in
the response's `X-Request-Id` and, through a context variable read when each log record is made,
is in every log line written while the request runs. With `COMMERCE_LOG_FORMAT=json` lines are
one JSON object each, and each request also writes one access line (method, route, status,
duration).
"""

from __future__ import annotations

import contextvars
import logging
import random
import re
import time
import traceback
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

# ASGI header names are lowercase bytes.
REQUEST_ID_HEADER = b"x-request-id"
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
access_log = logging.getLogger("commerce.access")

# Ids we pass on as they are: short, and only characters that are safe in a header and a log line.
_SENSIBLE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


def new_request_id() -> str:
    # 128 random bits from the process's PRNG, not uuid4(): an id needs to be unique, not secret, and
    # os.urandom cost 0.1-0.9 ms a call on the benchmark VM, more than the whole liveness request.
    return f"{random.getrandbits(128):032x}"


def take_request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER:
            candidate = value.decode("latin-1")
            if _SENSIBLE_ID.fullmatch(candidate):
                return candidate
            break
    return new_request_id()


class RequestIdMiddleware(ASGIMiddleware):
    """Takes or makes the request id, binds it for logging, returns it, and writes the access line."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, *, access_lines: bool) -> None:
        self.access_lines = access_lines

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        rid = take_request_id(scope)
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != REQUEST_ID_HEADER]
                headers.append((REQUEST_ID_HEADER, rid.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await next_app(scope, receive, send_with_id)
        finally:
            if self.access_lines:
                access_log.info(
                    "%s %s %d",
                    scope.get("method"),
                    scope.get("path_template", scope.get("path")),
                    status,
                    extra={
                        "method": scope.get("method"),
                        "route": scope.get("path_template"),
                        "path": scope.get("path"),
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    },
                )
            request_id.reset(token)


_old_factory = logging.getLogRecordFactory()


def _record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _old_factory(*args, **kwargs)
    record.request_id = request_id.get()
    return record


def install_record_factory() -> None:
    """Stamp every log record with the current request id when it is made (the line may be
    written later by another thread: Litestar logs through a queue)."""
    if logging.getLogRecordFactory() is not _record_with_request_id:
        logging.setLogRecordFactory(_record_with_request_id)


# Attributes every LogRecord has; anything else was passed as `extra=` and goes into the line.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "request_id"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request_id, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = "".join(traceback.format_exception(*record.exc_info))
        return msgspec.json.encode(line, enc_hook=str).decode()
