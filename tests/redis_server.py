"""Redis for tests: the machine's server (keys prefixed per test), or one a test starts,
stops and starts again on a port of its own (`RedisServer`)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.ports import free_port

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def unique_key(name: str = "bus") -> str:
    """A stream key no other test (or test run) uses."""
    return f"callpop-test:{os.getpid()}:{uuid.uuid4().hex[:8]}:{name}"


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def require_machine_redis() -> str:
    host_port = REDIS_URL.split("://", 1)[1].split("/", 1)[0]
    host, _, port = host_port.rpartition(":")
    if not reachable(host, int(port)):
        pytest.fail(
            f"Redis not reachable at {REDIS_URL}: every development and CI machine runs one (set TEST_REDIS_URL)"
        )
    return REDIS_URL


class RedisServer:
    """A `redis-server` of the test's own, without persistence: stopping it loses the
    stream, as a Redis restarted without AOF/RDB does."""

    def __init__(self, workdir: Path) -> None:
        if not Path(REDIS_SERVER).exists():
            pytest.fail(f"no redis-server binary at {REDIS_SERVER}: install Debian's redis-server")
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not reachable("127.0.0.1", self.port):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None
