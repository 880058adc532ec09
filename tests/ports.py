"""Ports for servers a test starts on a fixed port.

A port the kernel hands out for `bind(0)` comes from the ephemeral range, the same range
outgoing connections (to Redis, PostgreSQL, the simulators) take their local ports from:
between the probe and the server's own bind another connection can take it, and the
server then exits with "address in use" (seen once in CI in ~3,000 tests). Ports below
the ephemeral range are never given to outgoing connections, so one that binds now stays
free for the server unless another listener takes it.

A port is handed out once per test process: a test that asks for two (FastAGI and the
web app) could otherwise be given the same one twice, both free when probed, and its
second server would exit with "address in use" (seen once in ~3,300 tests)."""

from __future__ import annotations

import random
import socket
from pathlib import Path

__all__ = ["free_port"]

_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 10000
# The ports this test process has handed out (a few hundred of ~20,000 candidates).
_HANDED_OUT: set[int] = set()


def _below_ephemeral() -> range:
    try:
        low = int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return range(_LOWEST, max(low, _LOWEST + 1000))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on and no outgoing connection takes."""
    candidates = _below_ephemeral()
    for _ in range(200):
        port = random.choice(candidates)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free port in {candidates.start}-{candidates.stop - 1}")
