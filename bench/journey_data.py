"""The calls benchmark 5 stores: which caller path, when, on which dialplan version.

The engine walks the 16 caller paths of `PATHS` through the sample dialplan once each
(menus, an invalid key, silences, the operator key, hang-ups at several depths, the
account entry, and a caller the CRM knows); stored call `i` is one of them with its own
call id, start time (spread over 30 days) and dialplan version (one of three hashes).
`calls` draws them from one seeded generator, so call `i` is the same whatever the size;
`entry` is that call as the runner hands it to `JourneyStore.write`.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from bench.paths import BUSINESS_HOURS, DIALPLAN
from ivr.journey import Journey
from ivr.loader import load_dialplan
from ivr.simulator import FakeCrm, NoCrm, ScriptedKeys, parse_keys, simulate

__all__ = [
    "DAYS",
    "LOADED_AT",
    "PATHS",
    "SEED",
    "VERSIONS",
    "Call",
    "calls",
    "entry",
    "stamp",
    "templates",
]

SEED = 7
VERSIONS = ("a1b2c3d4e5f6", "0badc0ffee00", "5eed5eed5eed")
LOADED_AT = "2026-11-01T00:00:00.000Z"
DAYS = 30
# (keys, CRM finds the caller): where callers go, and where they give up.
PATHS: tuple[tuple[str, bool], ...] = (
    ("1 2", False),
    ("1 1 4000000002# 1", False),
    ("1 3", False),
    ("2", False),
    ("3 1", False),
    ("3 2", False),
    ("3 3", False),
    ("4 1", False),
    ("4 2", False),
    ("4 3 1", False),
    ("4 3 2", False),
    ("0", False),
    ("w w", False),
    ("9 1 2", False),
    ("h", False),
    ("1 h", False),
    ("", True),
)


class Call(NamedTuple):
    """One stored call: `path` indexes `PATHS` (and `templates()`)."""

    call_id: str
    path: int
    started: datetime
    version: str


def templates() -> list[Journey]:
    """The journey of each of `PATHS`, in order, as the engine records it."""
    flows = load_dialplan(DIALPLAN).flows
    made = []
    for keys, known in PATHS:
        crm = FakeCrm(tier="vip") if known else NoCrm()
        sim = simulate(
            flows,
            caller="+15551230000",
            keys=ScriptedKeys(parse_keys(keys)),
            crm=crm,
            now=BUSINESS_HOURS,
        )
        made.append(sim.journey)
    return made


def calls(size: int) -> Iterator[Call]:
    """Calls 0 to `size` - 1."""
    rng = random.Random(SEED)
    start = BUSINESS_HOURS - timedelta(days=DAYS)
    for i in range(size):
        # Two draws per call, path first: the data the benchmark has always stored.
        path = rng.randrange(len(PATHS))
        started = start + timedelta(seconds=rng.randrange(DAYS * 86_400))
        yield Call(f"bench-{i:07d}", path, started, VERSIONS[i % len(VERSIONS)])


def stamp(started: datetime) -> str:
    """A journey's `started_at`, as the runner writes it."""
    return started.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def entry(template: Journey, call: Call) -> tuple[Journey, Mapping[str, Any]]:
    """`call` as `JourneyStore.write` takes it: the journey and its `to_dict()`."""
    journey = copy.copy(template)
    journey.call_id = call.call_id
    journey.started_at = stamp(call.started)
    data = journey.to_dict()
    data["version"] = {"hash": call.version, "loaded_at": LOADED_AT}
    return journey, data
