"""What a channel's wait deadline is, as the server's `Watchdog` (watchdog.py) reads it:
apart from the watchdog, so that the classic script's channel loads no asyncio."""

from __future__ import annotations

import math
from typing import Final, Protocol

__all__ = ["NEVER", "Expirable"]

NEVER: Final = math.inf


class Expirable(Protocol):
    # Loop time by which the current wait must be over; NEVER when not waiting.
    until: float

    def expire(self) -> None:
        """The wait is past its deadline: end it (abort the transport)."""
        ...
