"""PostgreSQL clusters, PgBouncer and nats-server for the operations tests: real servers on loopback,
in a temporary folder, started and stopped by the test that needs them.

Each helper skips the test with the reason when its binaries are not installed (`.ci/run` installs
them: postgresql, pgbouncer, nats-server).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def _pg_bin() -> Path:
    """PG_BIN, or the newest Debian PostgreSQL server's binaries."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _as_postgres() -> dict[str, object]:
    """PostgreSQL refuses to run as root: run its programs as the `postgres` user then."""
    if os.getuid() != 0:
        return {}
    try:
        pw = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no `postgres` user to run PostgreSQL as")
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


def _chown_for_postgres(path: Path) -> None:
    if os.getuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(path, pw.pw_uid, pw.pw_gid)


def run_pg(*args: str | Path) -> None:
    subprocess.run([str(a) for a in args], check=True, capture_output=True, **_as_postgres())  # type: ignore[call-overload]


class Cluster:
    """One PostgreSQL server: `initdb` or `pg_basebackup -R` into a folder, on a loopback port."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        run_pg(
            PG_BIN / "pg_ctl",
            "-D",
            self.folder,
            "-l",
            self.folder / "server.log",
            "-w",
            "-t",
            "60",
            "start",
            "-o",
            f"-p {self.port} -k {self.folder}",
        )
        wait_for_port(self.port)

    def stop(self, mode: str = "fast") -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            run_pg(PG_BIN / "pg_ctl", "-D", self.folder, "-w", "-m", mode, "stop")


def require_postgres_binaries() -> None:
    for name in ("initdb", "pg_ctl", "pg_basebackup"):
        if not (PG_BIN / name).exists():
            pytest.skip(f"{PG_BIN / name} is missing (apt-get install postgresql; or set PG_BIN)")


@contextlib.contextmanager
def primary_and_replica(tmp: Path) -> Iterator[tuple[Cluster, Cluster]]:
    """A primary and a streaming replica of it made with `pg_basebackup -R`, both on loopback."""
    require_postgres_binaries()
    _chown_for_postgres(tmp)
    primary = Cluster(tmp / "primary", free_port())
    replica = Cluster(tmp / "replica", free_port())
    run_pg(PG_BIN / "initdb", "-D", primary.folder, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
    with open(primary.folder / "postgresql.conf", "a") as conf:
        conf.write(
            "listen_addresses = '127.0.0.1'\nfsync = off\nfull_page_writes = off\n"
            "max_connections = 60\nshared_buffers = 32MB\nwal_level = replica\nmax_wal_senders = 4\n"
        )
    primary.start()
    try:
        run_pg(
            PG_BIN / "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(primary.port),
            "-U",
            "postgres",
            "-D",
            replica.folder,
            "-R",
            "-X",
            "stream",
            "--no-sync",
        )
        replica.start()
        try:
            yield primary, replica
        finally:
            replica.stop("immediate")
    finally:
        primary.stop("immediate")


@contextlib.contextmanager
def pgbouncer(tmp: Path, server_port: int, *, pool_size: int = 20) -> Iterator[int]:
    """PgBouncer in transaction mode in front of the PostgreSQL server on 127.0.0.1:`server_port`."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(binary).exists():
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
    port = free_port()
    ini = tmp / "pgbouncer.ini"
    ini.write_text(
        f"""[databases]
* = host=127.0.0.1 port={server_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {tmp / "users.txt"}
pool_mode = transaction
; SQLAlchemy's uniquely named prepared statements would otherwise pile up on the server connections.
server_reset_query = DISCARD ALL
server_reset_query_always = 1
default_pool_size = {pool_size}
max_client_conn = 1000
logfile = {tmp / "pgbouncer.log"}
pidfile = {tmp / "pgbouncer.pid"}
"""
    )
    (tmp / "users.txt").write_text('"postgres" ""\n')
    kwargs: dict[str, object] = {}
    if os.getuid() == 0:
        # PgBouncer refuses to run as root too.
        _chown_for_postgres(tmp)
        for f in tmp.iterdir():
            _chown_for_postgres(f)
        kwargs = _as_postgres()
    proc = subprocess.Popen([binary, str(ini)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kwargs)  # type: ignore[call-overload]
    try:
        wait_for_port(port, 15)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
