"""Feed completeness: transactions commit in a shuffled order while a reader keeps paging."""

from __future__ import annotations

import asyncio
import random

import asyncpg
from sqlalchemy.engine import make_url

from commerce.events.relay import relay_once, run_relay
from tests.conftest import ADMIN

WRITERS = 30


class Rollback(Exception):
    pass


async def test_reader_sees_every_committed_event_once_in_order(app, client, database_url, db_conn, caplog) -> None:
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    rng = random.Random(20261123)
    rolled_back = {i for i in range(WRITERS) if i % 7 == 3}
    expected = {(i, k) for i in range(WRITERS) if i not in rolled_back for k in range(1 + i % 3)}
    written = {i: asyncio.Event() for i in range(WRITERS)}
    release = {i: asyncio.Event() for i in range(WRITERS)}

    async def connect() -> asyncpg.Connection:
        # The server is shared with other test runs: wait for a free connection slot.
        for _ in range(100):
            try:
                return await asyncpg.connect(dsn)
            except asyncpg.TooManyConnectionsError:
                await asyncio.sleep(0.1)
        return await asyncpg.connect(dsn)

    async def writer(i: int) -> None:
        try:
            conn = await connect()
            try:
                async with conn.transaction():
                    await conn.execute(
                        "INSERT INTO events (type, data)"
                        " SELECT 'product.changed', jsonb_build_object('w', $1::int, 'k', k)"
                        " FROM generate_series(0, $2::int - 1) k",
                        i,
                        1 + i % 3,
                    )
                    written[i].set()
                    await release[i].wait()
                    if i in rolled_back:
                        raise Rollback
            except Rollback:
                pass
            finally:
                await conn.close()
        finally:
            written[i].set()  # also when the writer failed: the test then fails instead of hanging

    seen: list[tuple[int, int]] = []
    seqs: list[int] = []
    after = 0

    async def read() -> None:
        nonlocal after
        await relay_once(app.state.sessionmaker)
        while True:
            r = await client.get("/v1/events", params={"after": after, "limit": 7}, headers=ADMIN)
            page = r.json()
            for e in page["items"]:
                seqs.append(e["seq"])
                seen.append((e["data"]["w"], e["data"]["k"]))
            if not page["items"]:
                return
            after = page["next_after"]

    async with asyncio.timeout(120):  # a stuck writer or reader fails the test rather than the run
        # Two more relays run all along, as other service processes would, contending for the relay lock.
        stop_relays = asyncio.Event()
        relays = [asyncio.create_task(run_relay(app.state.sessionmaker, 0.003, stop_relays)) for _ in range(2)]

        # Two overlapping waves: the first half's transactions are open while the second half starts,
        # and every transaction is let go in a shuffled order, the reader paging between commits.
        first, second = list(range(WRITERS // 2)), list(range(WRITERS // 2, WRITERS))

        async def all_written(ids: list[int]) -> None:
            await asyncio.gather(*(written[i].wait() for i in ids))
            for i in ids:
                if tasks[i].done():
                    tasks[i].result()  # raises what stopped the writer

        tasks = {i: asyncio.create_task(writer(i)) for i in first}
        await all_written(first)
        order = first[:]
        rng.shuffle(order)
        for i in order[: len(order) // 2]:
            release[i].set()
            await tasks[i]
            await read()
        tasks |= {i: asyncio.create_task(writer(i)) for i in second}
        await all_written(second)
        rest = order[len(order) // 2 :] + second
        rng.shuffle(rest)
        for i in rest:
            release[i].set()
            if rng.random() < 0.5:
                await tasks[i]
            await read()
        await asyncio.gather(*tasks.values())
        stop_relays.set()
        await asyncio.gather(*relays)
        await read()

    assert len(seen) == len(set(seen)), "an event was served twice"
    assert set(seen) == expected, "an event was missed or a rolled-back one served"
    assert seqs == list(range(1, len(seqs) + 1)), "the feed had a gap or went backwards"
    assert await db_conn.fetchval("SELECT count(*) FROM events WHERE seq IS NULL") == 0
    assert not [r for r in caplog.records if r.name == "commerce.events.relay"], "a relay round failed"
