"""The load drivers' event loop: uvloop when installed, so the driver's own overhead
(which shares the cores with the server under test) stays small. The servers under
test choose their loops themselves; this is only the benchmark's side."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["kind", "run"]

T = TypeVar("T")


def kind() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
