"""Servers under test, each in its own process so its CPU time and memory are its own.

A server is started from an argv; `ready` is awaited (a line on its stdout, or a
check the caller gives), then the process is read through /proc while the load runs,
and stopped with SIGTERM (SIGKILL after a deadline).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

from bench.procstat import cpu_seconds, rss_kib
from tests.ports import free_port

__all__ = ["ServerProcess", "free_port", "python_argv"]

ROOT = Path(__file__).resolve().parent.parent


def python_argv(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


class ServerProcess:
    """`async with ServerProcess(argv) as server:` starts it and waits until ready.

    Without `ready_check`, the server says it is ready by printing a line
    `READY <port>` on stdout; `port` is then that port."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        ready_check: Callable[[], Awaitable[bool]] | None = None,
        start_timeout_s: float = 60.0,
        stop_timeout_s: float = 15.0,
        name: str = "server",
    ) -> None:
        self.argv = list(argv)
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        self.ready_check = ready_check
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.name = name
        self.proc: asyncio.subprocess.Process | None = None
        self.port = 0
        self._stderr: asyncio.Task[bytes] | None = None
        self._stdout: asyncio.Task[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

    async def __aenter__(self) -> ServerProcess:
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv,
            env=self.env,
            cwd=str(ROOT),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert self.proc.stderr is not None
        self._stderr = asyncio.create_task(self.proc.stderr.read())
        try:
            async with asyncio.timeout(self.start_timeout_s):
                await self._wait_ready()
        except BaseException:
            await self.stop()
            raise
        # Keep reading what it prints, so a full pipe can never block it.
        assert self.proc.stdout is not None
        self._stdout = asyncio.create_task(self.proc.stdout.read())
        return self

    async def _wait_ready(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        if self.ready_check is None:
            line = await self.proc.stdout.readline()
            if not line.startswith(b"READY "):
                await self.stop()
                raise RuntimeError(f"{self.name} did not start: {line!r} {await self.stderr()}")
            self.port = int(line.split()[1])
            return
        while True:
            if self.proc.returncode is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}: {await self.stderr()}"
                )
            with contextlib.suppress(OSError):
                if await self.ready_check():
                    return
            await asyncio.sleep(0.05)

    async def stderr(self, limit: int | None = 4000) -> str:
        """The end of what the server wrote on stderr (all of it with `limit=None`)."""
        if self._stderr is None:
            return ""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                text = (await asyncio.shield(self._stderr)).decode("utf-8", "replace")
                return text if limit is None else text[-limit:]
        return "(stderr not available)"

    async def stop(self) -> int | None:
        proc = self.proc
        if proc is None:
            return None
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(self.stop_timeout_s):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._stderr is not None and not self._stderr.done():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await asyncio.shield(self._stderr)
        return proc.returncode

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
