"""Hot reload of the dialplan: new calls take a new version, calls in progress keep theirs.

A reload loads `dialplan/`, lints it, and swaps it in only if it has no errors; a
refused version is logged with its findings (one line each) and the running one
stays. Calls in progress are untouched: each `Session` holds the `CompiledFlows` it
started on, and the drivers read `LiveFlows.current` once per new call.

What asks for a reload (docs/contracts.md, "Reloading the dialplan"):
- `callpop reload`, through the instance's control socket (`reload.socket`), which
  answers with the result: the CLI prints the findings and exits 1 when refused;
- SIGHUP to `serve`;
- a change of the files' content hash, when `reload.watch_s` polls the folder;
- a `dialplan.reloaded` notice on the bus from another instance: every instance
  reloads from its own (shared) dialplan folder and checks it got the same hash.

Every instance publishes `dialplan.reloaded` whenever it takes a version (at start
too), so the wallboard shows which version each instance runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

from ivr.call import iso_utc
from ivr.compile_flow import compile_flows
from ivr.compiled import CompiledFlows, LiveFlows
from ivr.lint import check_dialplan
from ivr.loader import Dialplan, DialplanError
from ivr.ports import CallEvent
from ivr.source import START, Finding
from ivr.version import DialplanVersion, hash_dialplan
from screenpop.bus import BusClosed, PopBus, ResyncRequired

__all__ = [
    "NOTICE",
    "DialplanReloader",
    "ReloadResult",
    "load_versioned",
]

log = logging.getLogger("callpop.reload")

NOTICE: Final = "dialplan.reloaded"
"""The bus event an instance publishes when it takes a version."""

# What started a reload; only the admin's own requests ask the other instances to follow.
Cause = Literal["start", "control", "signal", "watch", "notice"]
_FOLLOWED: Final = frozenset({"control", "signal", "watch"})

# Files copied into place one by one may be caught half-way: a load whose files
# changed while it read them is tried again, then refused.
_LOAD_ATTEMPTS: Final = 3


def load_versioned(folder: Path, now: datetime) -> tuple[Dialplan, CompiledFlows]:
    """`check_dialplan(folder)` with its version: raises `DialplanError` with every error.

    The hash is taken before and after loading; files that changed meanwhile are
    loaded again, so the version always names the files the flows came from."""
    for _ in range(_LOAD_ATTEMPTS):
        before = hash_dialplan(folder)
        dialplan = check_dialplan(folder)
        if hash_dialplan(folder) == before:
            version = DialplanVersion(before, iso_utc(now))
            return dialplan, compile_flows(dialplan.flows, version)
    message = (
        "the dialplan files kept changing while they were loaded; reload once they are written"
    )
    raise DialplanError([Finding(str(folder), START, "error", "io-error", message)])


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """`accepted`: the new version runs (or it was the running one: `unchanged`);
    `running` is the version new calls now take; `findings` why a version was refused."""

    accepted: bool
    running: DialplanVersion
    previous: DialplanVersion
    unchanged: bool = False
    findings: tuple[Finding, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "unchanged": self.unchanged,
            "running": self.running.to_dict(),
            "previous": self.previous.to_dict(),
            "findings": [f.format() for f in self.findings],
        }


class DialplanReloader:
    """Owns the `LiveFlows` the drivers start calls on, and swaps them on reload.

    `publish` puts the `dialplan.reloaded` notice on the bus; `instance` names this
    process in it (other instances follow notices that are not their own)."""

    def __init__(
        self,
        folder: Path,
        live: LiveFlows,
        *,
        bus: PopBus,
        clock: Callable[[], datetime],
        instance: str | None = None,
    ) -> None:
        self.folder = folder
        self.live = live
        self.bus = bus
        self.clock = clock
        self.instance = instance or secrets.token_hex(4)
        self.refused_hash: str | None = None
        """The hash of the last version refused, so a watch does not refuse it again and again."""
        self._lock = asyncio.Lock()
        self._following: set[asyncio.Task[ReloadResult]] = set()

    @property
    def version(self) -> DialplanVersion:
        version = self.live.current.version
        assert version is not None, "the live flows are always loaded with their version"
        return version

    async def reload(self, cause: Cause, *, expected: str | None = None) -> ReloadResult:
        """Load, lint and swap in the dialplan folder; never raises for a bad dialplan."""
        async with self._lock:  # two reloads at once would race their swaps
            previous = self.version
            try:
                # Loading parses YAML and runs every lint rule: off the event loop, so
                # calls in progress keep their pace.
                _, flows = await asyncio.to_thread(load_versioned, self.folder, self.clock())
            except DialplanError as exc:
                return self._refused(cause, previous, exc.findings)
            assert flows.version is not None
            if expected is not None and flows.version.hash != expected:
                log.warning(
                    "dialplan: another instance took version %s, this one loaded %s from %s: "
                    "the instances' dialplan folders differ",
                    expected,
                    flows.version.hash,
                    self.folder,
                )
            self.refused_hash = None
            if flows.version.hash == previous.hash:
                log.info("dialplan: version %s is already running (%s)", previous.hash, cause)
                return ReloadResult(True, previous, previous, unchanged=True)
            self.live.current = flows
            log.info(
                "dialplan: version %s taken (%s; was %s); calls in progress finish on theirs",
                flows.version.hash,
                cause,
                previous.hash,
            )
            self.announce(cause, previous)
            return ReloadResult(True, flows.version, previous)

    def _refused(
        self, cause: Cause, previous: DialplanVersion, findings: tuple[Finding, ...]
    ) -> ReloadResult:
        errors = tuple(f for f in findings if f.severity == "error") or findings
        # One line each: an admin greps for them, a log collector keeps them apart. (A
        # watch does not come back for a version it saw refused: logged once.)
        log.error(
            "dialplan: new version refused (%s), %d error(s); version %s keeps running",
            cause,
            len(errors),
            previous.hash,
        )
        for finding in errors:
            log.error("dialplan: %s", finding.format())
        with contextlib.suppress(OSError):
            self.refused_hash = hash_dialplan(self.folder)
        return ReloadResult(False, previous, previous, findings=errors)

    def announce(self, cause: Cause, previous: DialplanVersion | None = None) -> None:
        """Publish `dialplan.reloaded` for the version running now."""
        data = {
            **self.version.to_dict(),
            "instance": self.instance,
            "cause": cause,
            "previous": None if previous is None else previous.hash,
        }
        try:
            self.bus.publish(CallEvent(NOTICE, "", self.version.loaded_at, data))
        except Exception as exc:  # the bus must not cost the reload
            log.warning("dialplan: could not announce version %s: %r", self.version.hash, exc)

    # --- what asks for a reload ---------------------------------------------------------

    async def follow_notices(self) -> None:
        """Reload when another instance announces a version it was asked to take."""
        since: int | None = None  # live notices only: the start's are not requests
        while True:
            try:
                async with self.bus.subscribe(since) as events:
                    async for event in events:
                        since = event.seq
                        if event.type != NOTICE or not self._followable(event.data):
                            continue
                        # In a task: the subscription keeps reading the call events
                        # meanwhile rather than fall behind while the dialplan loads.
                        expected = str(event.data.get("hash"))
                        task = asyncio.create_task(self.reload("notice", expected=expected))
                        self._following.add(task)
                        task.add_done_callback(self._following.discard)
            except ResyncRequired as exc:
                since = exc.head_seq  # notices missed meanwhile: the watch or a reload catches up
            except BusClosed:
                return

    def _followable(self, data: Any) -> bool:
        return (
            data.get("instance") != self.instance
            and data.get("cause") in _FOLLOWED
            and data.get("hash") != self.version.hash
        )

    async def watch(self, every_s: float) -> None:
        """Poll the folder's content hash; reload when it is neither running nor refused."""
        while True:
            await asyncio.sleep(every_s)
            try:
                current = await asyncio.to_thread(hash_dialplan, self.folder)
            except OSError as exc:
                log.warning("dialplan: cannot read %s to watch it: %s", self.folder, exc)
                continue
            if current not in (self.version.hash, self.refused_hash):
                await self.reload("watch")

    @contextlib.asynccontextmanager
    async def running(self, *, watch_s: float) -> AsyncIterator[None]:
        """Announce the version, follow the other instances' notices and (when
        `watch_s` > 0) watch the folder, until the block ends."""
        self.announce("start")
        tasks: list[asyncio.Task[Any]] = [
            asyncio.create_task(self.follow_notices(), name="dialplan-notices")
        ]
        if watch_s > 0:
            tasks.append(asyncio.create_task(self.watch(watch_s), name="dialplan-watch"))
        try:
            yield
        finally:
            tasks += self._following
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
