"""The adapter daemon's HTTP side and its run loop, shared by every platform.

    GET  /health               {status, platform, cursor, lag_events, lag_seconds, inbox_pending, dead_letters}
    GET  /dead-letters         what could not be applied, with the reason
    POST /webhooks/<platform>  the platform's deliveries, handed raw (headers + body bytes) to its receiver

A platform's daemon builds a `Daemon` (its receiver, its health, its background loops) and calls
`serve_daemon`; the loops run beside the server and stop with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import uvicorn
from litestar import Litestar, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from adapters.client import CommerceClient, CommerceRejected, CommerceUnavailable
from adapters.state import AdapterState

log = logging.getLogger("adapters.server")

WebhookReceiver = Callable[[dict[str, str], bytes], Awaitable[tuple[int, dict[str, Any]]]]
"""(lower-cased headers, raw body) -> (status, JSON body). Must answer fast: store, then apply later."""


@dataclass
class Daemon:
    platform: str
    state: AdapterState
    commerce: CommerceClient
    receiver: WebhookReceiver
    loops: Sequence[Callable[[], Coroutine[Any, Any, None]]] = ()
    feed_types: Sequence[str] = ("inventory.changed",)
    extra_health: Callable[[], dict[str, Any]] = field(default=dict)


async def feed_health(commerce: CommerceClient, state: AdapterState, types: Sequence[str]) -> dict[str, Any]:
    """The cursor and how far it is behind our feed: events not yet handled (up to 500) and their age."""
    cursor = state.cursor()
    out: dict[str, Any] = {"cursor": cursor, "lag_events": None, "lag_seconds": None}
    try:
        page = await commerce.events(cursor, list(types), limit=500)
    except (CommerceUnavailable, CommerceRejected) as exc:
        out["feed_error"] = str(exc)
        return out
    out["lag_events"] = len(page.items)
    out["lag_events_capped"] = len(page.items) == 500
    out["lag_seconds"] = round(time.time() - page.items[0].occurred_at.timestamp(), 3) if page.items else 0.0
    return out


def make_app(daemon: Daemon) -> Litestar:
    @get("/health")
    async def health() -> dict[str, Any]:
        feed = await feed_health(daemon.commerce, daemon.state, daemon.feed_types)
        return {
            "status": "ok" if "feed_error" not in feed else "degraded",
            "platform": daemon.platform,
            **feed,
            "inbox_pending": len(daemon.state.pending()),
            "dead_letters": len(daemon.state.dead_letters()),
            **daemon.extra_health(),
        }

    @get("/dead-letters")
    async def dead_letters() -> Response[bytes]:
        items = [
            {
                "id": d.id,
                "key": d.item.key,
                "topic": d.item.topic,
                "code": d.code,
                "reason": d.reason,
                "dead_at": d.dead_at,
                "attempts": d.item.attempts,
                "payload": d.item.payload(),
            }
            for d in daemon.state.dead_letters()
        ]
        return Response(msgspec.json.encode({"items": items}), media_type="application/json")

    @post("/webhooks/{platform:str}")
    async def webhook(request: Request[Any, Any, Any], platform: FromPath[str]) -> Response[bytes]:
        if platform != daemon.platform:
            raise NotFoundException(f"this adapter receives {daemon.platform} webhooks only")
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        status, out = await daemon.receiver(headers, body)
        return Response(msgspec.json.encode(out), status_code=status, media_type="application/json")

    return Litestar([health, dead_letters, webhook], logging_config=None, openapi_config=None)


async def run_loop_forever(name: str, step: Callable[[], Awaitable[None]], *, pause: float = 1.0) -> None:
    """Run `step` again and again; an unexpected error is logged and retried after a pause, never fatal."""
    while True:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("loop %s failed; retrying", name, extra={"loop": name})
            await asyncio.sleep(pause)


async def serve_daemon(daemon: Daemon, host: str, port: int, *, started: asyncio.Event | None = None) -> None:
    """Serve the daemon's HTTP side and run its loops until the server stops (SIGINT/SIGTERM)."""
    config = uvicorn.Config(make_app(daemon), host=host, port=port, log_config=None, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    tasks = [asyncio.create_task(loop(), name=f"{daemon.platform}-loop-{i}") for i, loop in enumerate(daemon.loops)]
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started and not serving.done():  # noqa: ASYNC110 - uvicorn offers no event
            await asyncio.sleep(0.02)
        if serving.done():
            await serving  # a bind error surfaces here
        log.info("adapter listening", extra={"platform": daemon.platform, "host": host, "port": port})
        if started is not None:
            started.set()
        await asyncio.shield(serving)  # cancelled: still shut the server down cleanly below
    finally:
        server.should_exit = True
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if not serving.done():
            with contextlib.suppress(asyncio.CancelledError):
                await serving  # uvicorn closes its sockets on the way out
