"""`callpop simulate FLOW_FILE --replay CALL_ID [--on original|current|VERSION]`: the glue.

The stored journey is read from the configured database (`JourneyStore.get`); the
version to replay on is, by default, the one the call ran on when its files can be
found (the dialplan folder as it is, if its hash is the journey's, else the newest
git commit of the folder with that hash), otherwise the current files; `--on current`
forces today's files, and any version `callpop diff` takes may be named. The replay
itself is `ivr.replay`; this module prints it node by node.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callpop.journeys import JourneyStore
from callpop.versions import VersionError, load_version, materialise, revision_with_hash
from crm_adapter.sql.engine import create_engine
from ivr.flow import Flow
from ivr.layout import dialplan_layout
from ivr.replay import ReplayResult, StoredStep
from ivr.version import hash_dialplan

__all__ = ["ReplayError", "Target", "describe_replay", "fetch_journey", "replay_target"]


class ReplayError(Exception):
    """The call or the version to replay on cannot be found."""


async def _get(database: str, call_id: str) -> dict[str, Any] | None:
    engine = create_engine(database)
    try:
        return await JourneyStore(engine).get(call_id)
    finally:
        await engine.dispose()


def fetch_journey(database: str, call_id: str) -> dict[str, Any]:
    journey = asyncio.run(_get(database, call_id))
    if journey is None:
        raise ReplayError(f"no stored journey for call {call_id!r} in the configured database")
    return journey


@dataclass(frozen=True, slots=True)
class Target:
    flows: Mapping[str, Flow]
    name: str  # how the version is described to the admin
    hash: str


@contextlib.contextmanager
def replay_target(flow_file: Path, journey: Mapping[str, Any], on: str) -> Iterator[Target]:
    """The flows to replay on (see the module docstring); raises `ReplayError`."""
    root, _ = dialplan_layout(flow_file.parent)
    stored = (journey.get("version") or {}).get("hash")
    current = hash_dialplan(root)
    spec: str | None = None
    if on == "original":
        if stored is None:
            raise ReplayError(
                "the stored journey names no dialplan version; replay it --on current"
            )
        if stored != current:
            commit = revision_with_hash(root, stored)
            if commit is None:
                raise ReplayError(
                    f"version {stored} (the call's) is neither {root} now ({current}) nor in its git history; "
                    "replay it --on current"
                )
            spec = f"{commit}:./{root.as_posix()}" if not root.is_absolute() else f"{commit}:{root}"
    elif on == "auto":
        if stored is not None and stored != current:
            commit = revision_with_hash(root, stored)
            if commit is not None:
                spec = (
                    f"{commit}:./{root.as_posix()}"
                    if not root.is_absolute()
                    else f"{commit}:{root}"
                )
    elif on != "current":
        spec = on
    try:
        if spec is None:
            version = load_version(root, str(root))
            ran_on = " (the version the call ran on)" if stored == current else ""
            yield Target(version.flows, f"{root} as it is now, version {current}{ran_on}", current)
            return
        with materialise(spec) as where:
            version = load_version(where.path, spec)
            content = hash_dialplan(where.path) if where.path.is_dir() else "?"
            ran_on = " (the version the call ran on)" if content == stored else ""
            yield Target(version.flows, f"{spec}, version {content}{ran_on}", content)
    except VersionError as exc:
        raise ReplayError(str(exc)) from None


def _cell(step: StoredStep | None) -> str:
    if step is None:
        return "-"
    keys = f" keys {' '.join(step.keys)}" if step.keys else ""
    if step.timeouts:
        keys += f" ({step.timeouts} silence{'s' if step.timeouts > 1 else ''})"
    return f"{step.flow}:{step.node} {step.entered_ms / 1000:.1f}s{keys} → {step.result or '...'}"


def describe_replay(
    call_id: str, journey: Mapping[str, Any], target: Target, result: ReplayResult
) -> list[str]:
    stored = (journey.get("version") or {}).get("hash") or "unknown"
    lines = [
        f"Replay of call {call_id} (flow {journey.get('flow')}, started {journey.get('started_at')}, "
        f"ran on version {stored})",
        f"on {target.name}",
        "",
        f"{'':>3}  {'stored':<48} {'replayed':<48}",
    ]
    at = result.divergence.index if result.divergence is not None else None
    for i in range(max(len(result.stored), len(result.replayed))):
        a = result.stored[i] if i < len(result.stored) else None
        b = result.replayed[i] if i < len(result.replayed) else None
        mark = "≠" if at is not None and i >= at else " "
        lines.append(f"{i + 1:>3}{mark} {_cell(a):<48} {_cell(b):<48}")
    lines += ["", f"Outcome: stored {result.stored_outcome}; replayed {result.replayed_outcome}"]
    lines += [f"Note: {note}" for note in result.notes]
    if result.divergence is None:
        lines.append("Same path and outcome: the two versions treat this call alike.")
    else:
        lines.append(f"Diverges at step {result.divergence.index + 1}: {result.divergence.reason}")
    return lines
