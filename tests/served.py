"""The service as a real `commerce serve` process on a loopback port, for tests that need real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import ADMIN_TOKEN

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def commerce_server(
    database_url: str,
    log_path: Path,
    *,
    server: str = "uvicorn",
    env: Mapping[str, str | None] | None = None,
    startup_seconds: float = 30,
) -> Iterator[str]:
    """Serve the app on `database_url` until the block ends; yields its base URL. Its output goes to
    `log_path`. `env` adds variables (a None value removes one)."""
    port = free_port()
    variables = {
        **os.environ,
        "DATABASE_URL": database_url,
        "COMMERCE_ADMIN_TOKEN": ADMIN_TOKEN,
        "COMMERCE_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    for name, value in (env or {}).items():
        if value is None:
            variables.pop(name, None)
        else:
            variables[name] = value
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "commerce", "serve", "--port", str(port), "--server", server],
            env=variables,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + startup_seconds
            while True:
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None:
                    raise RuntimeError(f"server exited: {log_path.read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server did not answer in {startup_seconds} s: {log_path.read_text()[-3000:]}")
                time.sleep(0.1)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=20)
