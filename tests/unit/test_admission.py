"""Admission control (commerce/admission.py): FIFO order, the bound, the longest wait, and waiters that leave."""

from __future__ import annotations

import asyncio

import pytest

from commerce.admission import Admission, Overloaded, default_limit


async def settle() -> None:
    """Let every ready task run until it blocks again."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_waiters_are_admitted_in_arrival_order() -> None:
    gate = Admission(1, max_wait=60)
    order: list[int] = []
    await gate.acquire()

    async def enter(n: int) -> None:
        async with gate.slot():
            order.append(n)
            await asyncio.sleep(0)

    tasks = []
    for n in range(6):
        tasks.append(asyncio.create_task(enter(n)))
        await settle()
    assert gate.queued == 6
    gate.release()
    # A newcomer after the release does not overtake those already waiting.
    tasks.append(asyncio.create_task(enter(99)))
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4, 5, 99]
    assert (gate.in_flight, gate.queued) == (0, 0)


async def test_no_more_than_the_limit_run_at_once() -> None:
    gate = Admission(3, max_wait=60)
    running = peak = 0

    async def work() -> None:
        nonlocal running, peak
        async with gate.slot():
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            running -= 1

    await asyncio.gather(*(work() for _ in range(40)))
    assert peak == 3
    assert (gate.in_flight, gate.queued) == (0, 0)


async def test_a_waiter_past_the_longest_wait_is_told_to_retry() -> None:
    gate = Admission(1, max_wait=0.01)
    await gate.acquire()
    with pytest.raises(Overloaded) as refused:
        await gate.acquire()
    assert refused.value.status == 503
    assert refused.value.code == "service_unavailable"
    assert refused.value.headers == {"Retry-After": "1"}
    assert (gate.in_flight, gate.queued) == (1, 0)
    gate.release()
    assert gate.in_flight == 0


async def test_a_cancelled_waiter_leaves_the_queue_without_a_slot() -> None:
    gate = Admission(1, max_wait=60)
    await gate.acquire()
    gone = asyncio.create_task(gate.acquire())
    after: list[str] = []

    async def next_one() -> None:
        async with gate.slot():
            after.append("next")

    waiting = asyncio.create_task(next_one())
    await settle()
    assert gate.queued == 2
    gone.cancel()
    await settle()
    assert gate.queued == 1
    gate.release()
    await waiting
    assert after == ["next"]
    assert (gate.in_flight, gate.queued) == (0, 0)


async def test_a_slot_handed_to_a_waiter_that_is_cancelled_passes_on() -> None:
    gate = Admission(1, max_wait=60)
    await gate.acquire()
    first = asyncio.create_task(gate.acquire())
    second = asyncio.create_task(gate.acquire())
    await settle()
    gate.release()  # hands the slot to `first`, which has not run yet
    first.cancel()
    await settle()
    assert first.cancelled()
    assert second.done() and second.exception() is None
    assert (gate.in_flight, gate.queued) == (1, 0)
    gate.release()
    assert gate.in_flight == 0


async def test_a_handed_slot_with_nobody_left_is_freed() -> None:
    gate = Admission(1, max_wait=60)
    await gate.acquire()
    only = asyncio.create_task(gate.acquire())
    await settle()
    gate.release()
    only.cancel()
    await settle()
    assert (gate.in_flight, gate.queued) == (0, 0)
    await asyncio.wait_for(gate.acquire(), 5)
    assert gate.in_flight == 1


def test_the_limit_is_at_least_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Admission(0, max_wait=1)


def test_the_default_limit_is_eight_or_the_pool_when_smaller() -> None:
    assert default_limit(10) == 8
    assert default_limit(32) == 8
    assert default_limit(3) == 3
    assert default_limit(0) == 1
