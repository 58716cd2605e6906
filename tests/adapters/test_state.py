from __future__ import annotations

import os
import time
from pathlib import Path

from adapters.state import AdapterState


def test_cursor_starts_at_zero_and_survives_a_new_instance(tmp_path: Path) -> None:
    state = AdapterState(tmp_path)
    assert state.cursor() == 0
    state.save_cursor(42)
    assert AdapterState(tmp_path).cursor() == 42


def test_a_delivery_is_accepted_once_whether_pending_applied_or_dead(tmp_path: Path) -> None:
    state = AdapterState(tmp_path)
    assert state.accept("shopify:1", "orders/create", b'{"id": 1}', {"x-shopify-topic": "orders/create"})
    assert not state.accept("shopify:1", "orders/create", b'{"id": 1}')
    [item] = state.pending()
    assert item.payload() == {"id": 1}
    assert item.headers == {"x-shopify-topic": "orders/create"}
    state.mark_done(item)
    assert state.pending() == []
    assert not AdapterState(tmp_path).accept("shopify:1", "orders/create", b'{"id": 1}')

    assert state.accept("shopify:2", "orders/create", b"{}")
    [second] = state.pending()
    state.dead_letter(second, "unknown SKU X", "unknown_sku")
    assert state.pending() == []
    assert not state.accept("shopify:2", "orders/create", b"{}")


def test_pending_is_oldest_first(tmp_path: Path) -> None:
    state = AdapterState(tmp_path)
    for n in range(5):
        state.accept(f"k{n}", "t", str(n).encode())
    assert [i.body for i in state.pending()] == [b"0", b"1", b"2", b"3", b"4"]


def test_replay_moves_a_dead_letter_back_to_the_inbox(tmp_path: Path) -> None:
    state = AdapterState(tmp_path)
    state.accept("k", "orders/create", b'{"a": 1}')
    [item] = state.pending()
    state.count_attempt(item)
    letter = state.dead_letter(item, "store X is not mapped", "unknown_location")
    [listed] = state.dead_letters()
    assert (listed.id, listed.code, listed.item.attempts) == (letter.id, "unknown_location", 1)
    assert state.replay(letter.id)
    assert not state.replay(letter.id)
    assert state.dead_letters() == []
    [again] = state.pending()
    assert again.key == "k"


def test_a_crash_between_done_marker_and_inbox_removal_does_not_apply_twice(tmp_path: Path) -> None:
    state = AdapterState(tmp_path)
    state.accept("k", "t", b"{}")
    [item] = state.pending()
    inbox_file = tmp_path / "inbox" / f"{item.id}.json"
    saved = inbox_file.read_bytes()
    state.mark_done(item)
    inbox_file.write_bytes(saved)  # as if the process died before the unlink
    assert AdapterState(tmp_path).pending() == []


def test_leftover_temporary_files_are_ignored_and_removed(tmp_path: Path) -> None:
    AdapterState(tmp_path)
    (tmp_path / "inbox" / ".tmp-1-2").write_bytes(b"half a delivery")
    (tmp_path / "inbox" / ".tmp-1-3").write_bytes(b"being written by a running daemon")
    an_hour_ago = time.time() - 3600
    os.utime(tmp_path / "inbox" / ".tmp-1-2", (an_hour_ago, an_hour_ago))
    state = AdapterState(tmp_path)
    assert state.pending() == []
    assert not (tmp_path / "inbox" / ".tmp-1-2").exists()
    assert (tmp_path / "inbox" / ".tmp-1-3").exists()  # another process's write in progress is left alone


def test_id_map_persists_and_inverts(tmp_path: Path) -> None:
    state = AdapterState(tmp_path)
    skus = state.id_map("skus")
    skus.update({"A": "gid://shopify/InventoryItem/1"})
    reloaded = AdapterState(tmp_path).id_map("skus")
    assert reloaded.get("A") == "gid://shopify/InventoryItem/1"
    assert reloaded.inverse() == {"gid://shopify/InventoryItem/1": "A"}


def test_prune_forgets_old_applied_deliveries_only(tmp_path: Path) -> None:
    state = AdapterState(tmp_path)
    state.accept("k", "t", b"{}")
    state.mark_done(state.pending()[0])
    assert state.prune_done(older_than_seconds=3600) == 0
    assert state.prune_done(older_than_seconds=-1) == 1
    assert state.accept("k", "t", b"{}")
