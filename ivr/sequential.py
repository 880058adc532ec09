"""`ivr.ports.Concurrency` without an event loop, and `run_to_end`, which drives a
coroutine that never waits on one: the classic AGI script's way of running the one
runner (a process per call, whose channel reads its pipe with blocking reads, and
whose services read and write SQLite synchronously), without loading asyncio.

`async def` is the language's, not asyncio's: a coroutine that only awaits other
coroutines that return runs to its end on one `send(None)`. One that waits on a future
(it needs a loop) is a wiring error: `run_to_end` closes it and says so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Coroutine, Generator
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any, Final, TypeVar

__all__ = ["SEQUENTIAL", "Sequential", "run_to_end"]

T = TypeVar("T")


def run_to_end(coroutine: Coroutine[Any, Any, T]) -> T:
    """The coroutine's result, run here and now to its end."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coroutine.close()
    raise RuntimeError(f"{coroutine!r} waited for an event loop, and there is none")


class _Ran:
    """An awaitable whose work has run already: awaiting it returns at once, or raises
    what the work raised (as awaiting a task does)."""

    __slots__ = ("error",)

    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def __await__(self) -> Generator[Any, None, None]:
        if self.error is not None:
            raise self.error
        return None
        yield  # a generator: awaiting it returns at once


class Sequential:
    """One thing at a time: `alongside` runs its work to the end before it returns
    (a journey is stored before the last prompts play, not while they do)."""

    __slots__ = ()

    def within(self, seconds: float) -> AbstractAsyncContextManager[object]:
        # Bounds nothing: a blocking read bounds itself (the pipe's deadlines), and
        # SQLite its lock wait (its busy timeout).
        return nullcontext()

    def alongside(self, work: Coroutine[Any, Any, None]) -> Awaitable[None]:
        try:
            run_to_end(work)
        except Exception as exc:
            return _Ran(exc)
        return _DONE


_DONE: Final = _Ran(None)
SEQUENTIAL: Final = Sequential()
