"""What the demo's pages share: the virtual PBX, the demo customers to call as, the
IVR clock's story. Kept under one typed app key (aiohttp's no-globals pattern)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from callpop.demo.pbx import VirtualPbx
from crm_adapter.demo import DemoData

__all__ = [
    "DEMO",
    "UNKNOWN_NUMBER",
    "CallbackOffer",
    "DemoContext",
    "KnownCaller",
    "known_callers",
]

# Exchange 019 is outside the demo data's number space (exchanges 200-999, plus the two
# fixed numbers): a caller the CRM never knows.
UNKNOWN_NUMBER = "+15550199876"


@dataclass(frozen=True, slots=True)
class KnownCaller:
    """A demo customer the test phone offers to call as."""

    name: str
    number: str
    tier: str
    open_cases: int
    account: str

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "number": self.number,
            "tier": self.tier,
            "open_cases": self.open_cases,
            "account": self.account,
        }


def known_callers(seed: int, count: int) -> tuple[KnownCaller, ...]:
    """The first `count` demo customers, as `callpop init --demo --seed` made them."""
    world = DemoData(seed)
    callers = []
    for index in range(1, count + 1):
        row = world.customer(index)
        callers.append(
            KnownCaller(
                name=row["name"],
                number=row["phones"][0],
                tier=row["tier"],
                open_cases=sum(1 for c in row["cases"] if c["status"] in ("open", "pending")),
                account=row["account"],
            )
        )
    return tuple(callers)


@dataclass(frozen=True, slots=True)
class CallbackOffer:
    """Where the dialplan offers a callback: the flood button's default queue."""

    queue: str
    offer_above_s: float
    where: str  # FLOW/NODE


@dataclass
class DemoContext:
    callers: tuple[KnownCaller, ...]
    clock_reason: str
    extension: str = "7000"
    pbx: VirtualPbx | None = None  # set once the FastAGI port is known, at start-up
    logins: tuple[tuple[str, str, str], ...] = field(default=())  # name, password, role
    queues: tuple[str, ...] = ()
    callback_offer: CallbackOffer | None = None
    flood_callers: int = 8
    # callpop's queue state, as the IVR reads it (the queue_states table)
    queue_states: Callable[[], Awaitable[Mapping[str, Mapping[str, Any]]]] | None = None


DEMO = web.AppKey("callpop_demo", DemoContext)
