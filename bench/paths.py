"""The caller paths every benchmark walks through the sample dialplan.

`FOUR_LEVELS` is the FastAGI benchmark's path (design.md: "the same 8-command 4-level
AGI path"): main menu > account services > complaints > follow-up, a caller the CRM
does not know. The engine benchmark walks it and four others that exercise the rest
of the engine (the VIP lane, digit entry with confirmation and a second lookup, a
sub-flow, a lost caller handed to the operator).

The sample's `hours` node depends on the time of the call; the benchmarks fix it (a
Monday 10:00 in New York for the engine; a copy of the dialplan open every hour for
the servers, which read the real clock), so the path is the same whatever the hour of
the run.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from ruamel.yaml import YAML

__all__ = [
    "BUSINESS_HOURS",
    "DIALPLAN",
    "ENGINE_PATHS",
    "FOUR_LEVELS",
    "CallerPath",
    "always_open_dialplan",
]

DIALPLAN = Path(__file__).resolve().parent.parent / "dialplan"
# Monday 2026-11-23 10:00 in New York (15:00 UTC): open, no holiday.
BUSINESS_HOURS = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)

Crm = Literal["not_found", "standard", "vip"]


@dataclass(frozen=True, slots=True)
class CallerPath:
    """One caller: what the CRM says about them, the key tokens they press at each
    listening point (`w` is silence), and where the IVR must send them."""

    name: str
    crm: Crm
    keys: tuple[str, ...]
    outcome: str  # CALLPOP_OUTCOME
    target: str  # CALLPOP_TARGET


FOUR_LEVELS = CallerPath(
    "4-level menu path (FastAGI path)", "not_found", ("4", "3", "2"), "queue", "complaints"
)
ENGINE_PATHS = (
    FOUR_LEVELS,
    CallerPath("VIP fast lane (lookup, branch)", "vip", (), "queue", "vip"),
    CallerPath(
        "account entry + confirm + lookup",
        "standard",
        ("1", "1", "3000000012#", "1"),
        "queue",
        "billing",
    ),
    CallerPath(
        "sub-flow, 4 levels (tech > internet > equipment)",
        "not_found",
        ("2", "1", "3", "1"),
        "queue",
        "tech",
    ),
    CallerPath(
        "lost caller (silence, wrong keys) to the operator",
        "not_found",
        ("w", "9", "9", "9"),
        "queue",
        "operator",
    ),
)


def always_open_dialplan(dest: Path) -> Path:
    """A copy of the sample dialplan whose business hours are every hour of every day
    and without holidays, so servers on the real clock walk the same path at any time."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(DIALPLAN, dest, dirs_exist_ok=True)
    main = dest / "flows" / "main.yaml"
    yaml = YAML(typ="rt")
    yaml.version = (1, 2)
    data = yaml.load(main.read_text(encoding="utf-8"))
    hours = data["nodes"]["hours"]
    hours["weekly"] = {"mon-sun": "00:00-24:00"}
    hours.pop("holidays", None)
    with main.open("w", encoding="utf-8") as out:
        yaml.dump(data, out)
    return dest
