"""`commerce serve --workers 2`: whichever worker answers /metrics, it counts every worker's requests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import ADMIN_TOKEN
from tests.ops.metrics_scrape import parse, value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_every_worker_reports_the_requests_of_all_workers(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "COMMERCE_ADMIN_TOKEN": ADMIN_TOKEN,
        "COMMERCE_BACKGROUND_WORKERS": "false",
        "TMPDIR": str(tmp_path),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "commerce", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                if httpx.get(f"{base}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        sent = 1  # the readiness probe that answered
        for _ in range(39):
            # A new connection each time: the kernel spreads them over the workers.
            assert httpx.get(f"{base}/health/live", timeout=5).status_code == 200
            sent += 1
        (folder,) = tmp_path.glob("commerce-metrics-*")
        pids = {f.stem.rsplit("_", 1)[1] for f in folder.glob("counter_*.db")}
        assert len(pids) == 2, pids  # both workers counted requests
        labels = {"app_name": "commerce", "method": "GET", "path": "/health/live", "status_code": "200"}
        for _ in range(6):
            samples = parse(httpx.get(f"{base}/metrics", timeout=5).text)
            assert value(samples, "commerce_requests_total", **labels) == sent
            assert value(samples, "commerce_request_duration_seconds_count", **labels) == sent
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
    assert not list(tmp_path.glob("commerce-metrics-*")), "the metrics folder is removed at exit"
