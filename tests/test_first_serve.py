"""The first `commerce serve` on a new data folder: the banner is the first thing a newcomer reads.

The embedded PostgreSQL's initdb report and the migration steps go to a log file in the data
folder; platformdirs' warning about XDG_RUNTIME_DIR (unset in containers and root shells) is not
shown. Ctrl-C stops the server and the database.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_first_serve_shows_the_banner_first_and_logs_the_database_to_the_data_folder(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "XDG_RUNTIME_DIR")}
    env |= {"PYTHONPATH": str(ROOT), "COMMERCE_ADMIN_TOKEN": "first-serve-token", "PYTHONWARNINGS": "default"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "commerce", "serve", "--data-dir", str(data_dir), "--port", str(free_port())],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if line.strip().startswith("Stop:"):
                break
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert lines, "no output"
    assert lines[0].startswith("Commerce API listening on"), "\n".join(lines)
    assert any("first-serve-token" in line for line in lines)
    assert not any("XDG_RUNTIME_DIR" in line or "initdb" in line for line in lines + rest.splitlines())
    log = (data_dir / "database.log").read_text()
    assert "initdb" in log and "Running upgrade" in log
    # The embedded server was shut down with the service (a running one keeps postmaster.pid).
    assert not (data_dir / "pgdata" / "postmaster.pid").exists()
