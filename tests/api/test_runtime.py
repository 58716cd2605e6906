"""How the service process is set up at start."""

from __future__ import annotations

import gc


async def test_startup_moves_the_heap_out_of_the_collectors_reach(app) -> None:
    # Full collections walking the framework's and ORM's objects paused requests for ~100 ms.
    assert gc.get_freeze_count() > 10_000
