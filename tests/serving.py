"""Helpers of the tests that run the real ``crm-pay serve`` (gunicorn, several worker
processes) on PostgreSQL and Redis: a database of the test's own, the Redis URL, the
running server and which of its worker processes holds a given connection."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

__all__ = ["REPO", "Served", "own_database", "redis_url", "serve"]

REPO = Path(__file__).resolve().parents[1]


def own_database(name: str) -> str:
    """An empty database ``name`` on the test server (``CRM_PAY_TEST_DATABASE_URL``'s,
    else a local one), created when missing; skips the test when there is no server."""
    psycopg = pytest.importorskip("psycopg")
    server = (
        os.environ.get("CRM_PAY_TEST_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres"
    ).replace("postgresql+psycopg://", "postgresql://", 1)
    own = urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    try:
        with psycopg.connect(server, autocommit=True, connect_timeout=3) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if found.fetchone() is None:
                with suppress(psycopg.errors.DuplicateDatabase):
                    conn.execute(f'CREATE DATABASE "{name}"')
        with psycopg.connect(own, autocommit=True, connect_timeout=3) as conn:
            conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
            conn.execute("CREATE SCHEMA public")
    except psycopg.OperationalError as exc:
        pytest.skip(f"needs PostgreSQL (set CRM_PAY_TEST_DATABASE_URL; CI does): {exc}")
    return own


def redis_url(db: int, host: str = "127.0.0.1", port: int = 6379) -> str:
    """``redis://host:port/db``; skips the test when no Redis answers there."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            pass
    except OSError:
        pytest.skip(f"needs Redis on {host}:{port} (CI runs one)")
    return f"redis://{host}:{port}/{db}"


@dataclass
class Served:
    """One running ``crm-pay serve``: its master process, its URL and its log."""

    proc: subprocess.Popen[bytes]
    base: str
    port: int
    log: Path

    def worker_pids(self) -> set[int]:
        """The master's children: gunicorn's worker processes."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return {int(p) for p in children.read_text().split()}

    def holder_of(self, client_port: int, wait: float = 5.0) -> int | None:
        """The worker process holding the server end of the connection from
        ``client_port`` (read from /proc: no header or event says so). Asked before the
        request is sent: a connection still in the listen queue (no worker accepted it
        yet, as on a busy machine) is waited for up to ``wait`` seconds; once accepted it
        stays with its worker until answered."""
        deadline = time.monotonic() + wait
        while True:
            pid = self._holder_now(client_port)
            if pid is not None or time.monotonic() >= deadline:
                return pid
            time.sleep(0.01)

    def _holder_now(self, client_port: int) -> int | None:
        inode = _server_inode(self.port, client_port)
        if inode is None or inode == "0":  # "0": in the listen queue, held by no process
            return None
        target = f"socket:[{inode}]"
        for pid in self.worker_pids():
            with suppress(OSError):
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    with suppress(OSError):
                        if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                            return pid
        return None


def _server_inode(server_port: int, client_port: int) -> str | None:
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        local, remote, inode = parts[1], parts[2], parts[9]
        if (
            int(local.split(":")[1], 16) == server_port
            and int(remote.split(":")[1], 16) == client_port
        ):
            return inode
    return None


@contextmanager
def serve(
    env: dict[str, str], workers: int, port: int, log: Path, *, threads: int | None = None
) -> Iterator[Served]:
    """``crm-pay serve --workers N`` on 127.0.0.1:``port``, up (health answered, every
    worker forked) before it is yielded; stopped with SIGTERM after (SIGKILL if stuck)."""
    out = log.open("wb")
    args = ["serve", "--workers", str(workers), "--bind", f"127.0.0.1:{port}"]
    if threads is not None:
        args += ["--threads", str(threads)]
    proc = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-c", "from crm_pay.cli_main import main; main()", *args]
        + ["--graceful-timeout", "3"],
        cwd=REPO,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    served = Served(proc, f"http://127.0.0.1:{port}", port, log)
    try:
        deadline = time.monotonic() + 40
        while True:
            assert proc.poll() is None, f"crm-pay serve exited:\n{log.read_text()}"
            with suppress(requests.RequestException, OSError):
                up = requests.get(f"{served.base}/pay/healthz", timeout=2).status_code == 200
                if up and len(served.worker_pids()) == workers:
                    break
            assert time.monotonic() < deadline, f"crm-pay serve did not start:\n{log.read_text()}"
            time.sleep(0.2)
        yield served
    finally:
        with suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        out.close()
