"""Property-based fuzzing of the served OpenAPI document with schemathesis, over real HTTP.

The service runs as a real server process on the test database; schemathesis generates requests
from the document and checks that nothing answers 500 and every response (status, content type,
body) is one the document describes. Bounded so it stays a CI-sized run; set FUZZ_EXAMPLES and
FUZZ_SEED to explore further.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "server.log"


@pytest.fixture(scope="module")
def served(database_url: str, server_log: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "COMMERCE_ADMIN_TOKEN": ADMIN_TOKEN,
        "COMMERCE_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    log = server_log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "commerce", "serve", "--port", str(port), "--server", "granian"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {server_log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def test_served_api_never_errors_and_answers_as_documented(served: str, server_log: Path, tmp_path: Path) -> None:
    cli = shutil.which("st", path=str(Path(sys.executable).parent)) or shutil.which("st")
    assert cli, "schemathesis CLI (st) is not installed"
    result = subprocess.run(
        [
            cli,
            "run",
            f"{served}/schema/openapi.json",
            "--header",
            f"Authorization: Bearer {ADMIN_TOKEN}",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            os.environ.get("FUZZ_EXAMPLES", "15"),
            "--seed",
            os.environ.get("FUZZ_SEED", "20261123"),
            "--workers",
            "1",
            "--request-timeout",
            "20",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    # The report is long; keep the part that names the failures.
    out = result.stdout
    summary = out[out.find("FAILURES") :] if "FAILURES" in out else out[-3000:]
    errors = [line for line in server_log.read_text().splitlines() if "Error" in line or "error" in line]
    assert result.returncode == 0, summary[:6000] + "\n--- server log ---\n" + "\n".join(errors[-40:])
