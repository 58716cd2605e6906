"""The adapter's small durable state, as plain files in its state folder.

    <dir>/cursor-<name>.json   how far the outbound side has followed our event feed
    <dir>/docs/<name>.json     small documents: id maps, last values written to a platform
    <dir>/inbox/<h>.json       platform deliveries accepted and not yet applied
    <dir>/done/<h>.json        a marker per applied delivery (the dedup memory; body dropped)
    <dir>/dead/<h>.json        what could not be applied, with the reason; replay moves it back to inbox

Every write is crash-safe: write a temporary file, fsync it, rename it over the target, fsync
the folder. A delivery is created with a hard link of the temporary file, which fails if the
name exists, so accepting the same delivery twice (even from two processes) stores it once.
`<h>` is a hash of the delivery's dedup key (for Shopify, `X-Shopify-Event-Id`).

The files are small and written one at a time on the event loop; an fsync costs a millisecond or
two on a local disk, which is the price of "stored before answering".
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import time
from pathlib import Path
from typing import Any

import msgspec

_INBOX, _DONE, _DEAD, _DOCS = "inbox", "done", "dead", "docs"


class InboxItem(msgspec.Struct, kw_only=True):
    """One delivery to apply: a platform webhook, or (after a replay) an outbound write that failed."""

    key: str  # the dedup key, e.g. "shopify:<X-Shopify-Event-Id>"
    topic: str  # e.g. "orders/create", or "commerce/inventory.changed" for an outbound item
    body_b64: str
    headers: dict[str, str] = {}
    received_at: float = 0.0
    attempts: int = 0

    @property
    def id(self) -> str:
        return item_id(self.key)

    @property
    def body(self) -> bytes:
        return base64.b64decode(self.body_b64)

    def payload(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return msgspec.json.decode(self.body)
        except msgspec.DecodeError:
            return None


class DeadLetter(msgspec.Struct, kw_only=True):
    id: str
    item: InboxItem
    reason: str  # what happened, for a person
    code: str  # stable: unknown_sku, unknown_location, rejected, ...
    dead_at: float


class DoneMarker(msgspec.Struct, kw_only=True):
    key: str
    topic: str
    done_at: float


def item_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_temp(folder: Path, data: bytes) -> Path:
    tmp = folder / f".tmp-{os.getpid()}-{time.monotonic_ns()}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return tmp


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash leaves either the old or the new content."""
    tmp = _write_temp(path.parent, data)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def create_exclusive(path: Path, data: bytes) -> bool:
    """Create `path` with `data` unless it exists (False then); never a half-written file."""
    tmp = _write_temp(path.parent, data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink()
    _fsync_dir(path.parent)
    return True


class IdMap:
    """A persisted str -> str map (e.g. SKU -> inventory item id), loaded once, written through."""

    def __init__(self, state: AdapterState, name: str) -> None:
        self.state, self.name = state, name
        self.values: dict[str, str] = {str(k): str(v) for k, v in state.load(name).items()}

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    def update(self, pairs: dict[str, str]) -> None:
        changed = {k: v for k, v in pairs.items() if self.values.get(k) != v}
        if changed:
            self.values.update(changed)
            self.state.save(self.name, self.values)

    def inverse(self) -> dict[str, str]:
        return {v: k for k, v in self.values.items()}


class AdapterState:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        for sub in (_INBOX, _DONE, _DEAD, _DOCS):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        # From a crash mid-write: never renamed, so never read. Only old ones: a command run beside the
        # daemon (replay, catch-up) opens the same folder while the daemon is writing its own.
        stale = time.time() - 60
        for leftover in self.root.rglob(".tmp-*"):
            with contextlib.suppress(OSError):
                if leftover.stat().st_mtime < stale:
                    leftover.unlink()

    # --- the feed cursor ---

    def cursor(self, name: str = "feed") -> int:
        path = self.root / f"cursor-{name}.json"
        if not path.exists():
            return 0
        return int(msgspec.json.decode(path.read_bytes())["after"])

    def save_cursor(self, after: int, name: str = "feed") -> None:
        atomic_write(self.root / f"cursor-{name}.json", msgspec.json.encode({"after": after, "saved_at": time.time()}))

    # --- small documents ---

    def load(self, name: str) -> dict[str, Any]:
        path = self.root / _DOCS / f"{name}.json"
        return dict(msgspec.json.decode(path.read_bytes())) if path.exists() else {}

    def save(self, name: str, doc: dict[str, Any]) -> None:
        atomic_write(self.root / _DOCS / f"{name}.json", msgspec.json.encode(doc))

    def id_map(self, name: str) -> IdMap:
        return IdMap(self, name)

    # --- the inbox ---

    def _path(self, folder: str, ident: str) -> Path:
        return self.root / folder / f"{ident}.json"

    def seen(self, key: str) -> bool:
        ident = item_id(key)
        return any(self._path(f, ident).exists() for f in (_INBOX, _DONE, _DEAD))

    def accept(self, key: str, topic: str, body: bytes, headers: dict[str, str] | None = None) -> bool:
        """Store a delivery durably; False if this key was accepted before (pending, applied or dead)."""
        if self.seen(key):
            return False
        item = InboxItem(
            key=key,
            topic=topic,
            body_b64=base64.b64encode(body).decode(),
            headers=headers or {},
            received_at=time.time(),
        )
        return create_exclusive(self._path(_INBOX, item.id), msgspec.json.encode(item))

    def pending(self) -> list[InboxItem]:
        """Deliveries accepted and not applied yet, oldest first."""
        items = []
        for path in (self.root / _INBOX).glob("*.json"):
            ident = path.stem
            if self._path(_DONE, ident).exists():
                path.unlink(missing_ok=True)  # a crash between marking it done and removing it
                continue
            if self._path(_DEAD, ident).exists():
                continue  # dead-lettered (or being replayed: the dead file goes last)
            try:
                items.append(msgspec.json.decode(path.read_bytes(), type=InboxItem))
            except FileNotFoundError:
                continue
        return sorted(items, key=lambda i: i.received_at)

    def mark_done(self, item: InboxItem) -> None:
        marker = DoneMarker(key=item.key, topic=item.topic, done_at=time.time())
        atomic_write(self._path(_DONE, item.id), msgspec.json.encode(marker))
        self._path(_INBOX, item.id).unlink(missing_ok=True)

    def count_attempt(self, item: InboxItem) -> None:
        item.attempts += 1
        path = self._path(_INBOX, item.id)
        if path.exists():
            atomic_write(path, msgspec.json.encode(item))

    def prune_done(self, older_than_seconds: float) -> int:
        """Forget applied deliveries older than this (Shopify redelivers for 4 hours; keep days)."""
        cutoff, removed = time.time() - older_than_seconds, 0
        for path in (self.root / _DONE).glob("*.json"):
            try:
                if msgspec.json.decode(path.read_bytes(), type=DoneMarker).done_at < cutoff:
                    path.unlink()
                    removed += 1
            except (FileNotFoundError, msgspec.DecodeError):
                continue
        return removed

    # --- dead letters ---

    def dead_letter(self, item: InboxItem, reason: str, code: str) -> DeadLetter:
        """Move an inbox item (or a failed outbound write never in the inbox) to the dead letters."""
        letter = DeadLetter(id=item.id, item=item, reason=reason, code=code, dead_at=time.time())
        atomic_write(self._path(_DEAD, item.id), msgspec.json.encode(letter))
        self._path(_INBOX, item.id).unlink(missing_ok=True)
        return letter

    def add_dead_letter(self, key: str, topic: str, body: bytes, reason: str, code: str) -> DeadLetter:
        """Dead-letter something that never went through the inbox (an outbound write refused, say);
        a replay puts it in the inbox under `topic`."""
        item = InboxItem(key=key, topic=topic, body_b64=base64.b64encode(body).decode(), received_at=time.time())
        return self.dead_letter(item, reason, code)

    def dead_letters(self) -> list[DeadLetter]:
        letters = []
        for path in (self.root / _DEAD).glob("*.json"):
            try:
                letters.append(msgspec.json.decode(path.read_bytes(), type=DeadLetter))
            except FileNotFoundError:
                continue
        return sorted(letters, key=lambda d: d.dead_at)

    def replay(self, letter_id: str) -> bool:
        """Put a dead letter back in the inbox to be applied again; False if there is no such letter."""
        path = self._path(_DEAD, letter_id)
        try:
            letter = msgspec.json.decode(path.read_bytes(), type=DeadLetter)
        except FileNotFoundError:
            return False
        atomic_write(self._path(_INBOX, letter_id), msgspec.json.encode(letter.item))
        path.unlink()
        _fsync_dir(path.parent)
        return True
