from __future__ import annotations

import email.utils

import httpx
import pytest

from adapters.client import CommerceClient, CommerceRejected, CommerceUnavailable, RetryPolicy, retry_after_seconds

FAST = RetryPolicy(attempts=4, timeout=5, wait_initial=0.001, wait_max=0.01, wait_jitter=0.0)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    date = email.utils.formatdate(1_000_010, usegmt=True)
    assert retry_after_seconds(date, now=1_000_000) == pytest.approx(10.0)


async def test_5xx_and_429_are_retried_with_the_same_idempotency_key() -> None:
    seen: list[tuple[int, str | None]] = []
    answers = [503, 429, 201]

    def handler(request: httpx.Request) -> httpx.Response:
        status = answers[len(seen)]
        seen.append((status, request.headers.get("Idempotency-Key")))
        headers = {"Retry-After": "0"} if status == 429 else {}
        return httpx.Response(status, json={"id": "a"}, headers=headers)

    async with CommerceClient("http://c.test", "k", retry=FAST, transport=httpx.MockTransport(handler)) as client:
        out = await client.adjust("S", "X", 1, "return", idempotency_key="ret-1")
    assert out == {"id": "a"}
    assert seen == [(503, "ret-1"), (429, "ret-1"), (201, "ret-1")]


async def test_a_4xx_is_not_retried_and_carries_the_problem_code() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(404, json={"status": 404, "code": "not_found", "detail": "no SKU X"})

    async with CommerceClient("http://c.test", "k", retry=FAST, transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(CommerceRejected) as info:
            await client.get_level("S", "X")
    assert (calls, info.value.status, info.value.code) == (1, 404, "not_found")


async def test_retries_run_out_as_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    async with CommerceClient("http://c.test", "k", retry=FAST, transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(CommerceUnavailable):
            await client.events(0, ["inventory.changed"])
