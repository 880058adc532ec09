"""`ivr.ports.Concurrency` on an asyncio event loop: every driver but the classic script."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Any, Final

__all__ = ["LOOP", "LoopConcurrency"]


class LoopConcurrency:
    __slots__ = ()

    def within(self, seconds: float) -> AbstractAsyncContextManager[object]:
        return asyncio.timeout(seconds)

    def alongside(self, work: Coroutine[Any, Any, None]) -> Awaitable[None]:
        return asyncio.ensure_future(work)


LOOP: Final = LoopConcurrency()
