"""The other files of `dialplan/`: queues, disposition codes and agent scripts.

- `queues.yaml`: the Asterisk queues transfers name, their ring strategy and weight,
  and which one is the operator queue (the `0` key, every give-up, and the dialplan's
  fallback when callpop is unreachable). `callpop asterisk-config` writes queues.conf
  from it.
- `dispositions.yaml`: the codes an agent closes a call with (the panel's wrap-up),
  whether a note is required, whether the case stays open for a follow-up.
- `schedules.yaml`: named opening hours (timezone, weekly spans, holidays) that
  `hours` nodes share with `schedule: NAME`, so two places that check the same
  hours cannot drift apart.
- `scripts.yaml`: the script tree an agent follows, one per topic (the `topic:` of the
  caller's IVR choice): what to say, what to check, what to ask and where each answer
  leads.

Each is a frozen pydantic model like the flow model, read by the same loader (positions
on every error) and checked by `callpop lint` (unknown queues, topics, codes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from ivr.flow import DateRange, Duration, ScheduleName, Topic, Weekly
from ivr.schedule import parse_weekly, zone

__all__ = [
    "CATALOG_FILES",
    "Catalog",
    "Disposition",
    "DispositionCatalog",
    "PauseReasonCatalog",
    "Queue",
    "QueueCatalog",
    "Schedule",
    "ScheduleCatalog",
    "Script",
    "ScriptCatalog",
    "ScriptStep",
]

QueueName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
# A break reason is shown on the panel and sent as QueuePause's `Reason` (queue_log's PAUSE
# rows): one line of 1-40 printable characters, no spaces around it.
PauseReason = Annotated[
    str,
    StringConstraints(pattern=r"^[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]{0,38}[^\s\x00-\x1f\x7f])?$"),
]
# A queue member as Asterisk names it: TECH/resource, e.g. PJSIP/101 or Local/8100@agents/n.
Interface = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]+/[A-Za-z0-9_.@/+-]{1,120}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=2000)]

Strategy = Literal[
    "ringall", "leastrecent", "fewestcalls", "random", "rrmemory", "rrordered", "linear", "wrandom"
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Queue(_Model):
    """One Asterisk queue. Caller priority comes from each transfer's `priority:`;
    `weight` orders queues that share members (Asterisk's queue weight)."""

    description: str | None = None
    strategy: Strategy = "rrmemory"
    weight: int = Field(default=0, ge=0, le=100)
    ring_timeout: Duration = Field(default=15_000, description="how long one member rings")
    wrapup: Duration = Field(default=0, description="pause after a call before the next")
    max_wait: Duration | None = Field(default=None, description="leave the queue after this long")
    service_level: Duration = Field(default=60_000, description="answer-time target for reports")
    music_class: str = Field(default="default", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    members: tuple[Interface, ...] = ()


class QueueCatalog(_Model):
    """`queues.yaml`. `operator` names the queue of last resort; lint checks it exists."""

    operator: QueueName = "operator"
    queues: dict[QueueName, Queue] = Field(min_length=1)


class Schedule(_Model):
    """One named schedule: what an inline `hours` node would say, checked by the
    engine's own parser when the file loads (errors point at the field)."""

    description: str | None = None
    timezone: str
    weekly: Weekly
    holidays: tuple[DateRange, ...] = Field(
        default=(), description="dates (2026-12-25) or ranges (2026-12-24..2026-12-26), closed"
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone(value)
        return value

    @field_validator("weekly")
    @classmethod
    def _readable_weekly(cls, value: Weekly) -> Weekly:
        parse_weekly(value)
        return value


class ScheduleCatalog(_Model):
    """`schedules.yaml`: schedule name -> schedule, for `hours` nodes' `schedule:`."""

    schedules: dict[ScheduleName, Schedule] = Field(min_length=1)


class Disposition(_Model):
    """One wrap-up code. The code is the key in `dispositions.yaml`."""

    label: Text
    description: str | None = None
    requires_note: bool = False
    follow_up: bool = Field(default=False, description="the case stays open for a callback")
    topics: tuple[Topic, ...] = Field(
        default=(), description="offered only for these topics (all if empty)"
    )


class DispositionCatalog(_Model):
    """`dispositions.yaml`: code -> disposition, in the order the panel offers them."""

    dispositions: dict[Code, Disposition] = Field(min_length=1)


class ScriptStep(_Model):
    """One step of a script: exactly one of `say`, `ask`, `check` or `do`.

    `say` is what the agent says, `check` what the agent verifies before going on,
    `do` an action in the CRM, `ask` a question whose `answers` each lead to steps of
    their own (the tree). `disposition` suggests the wrap-up code when a call ends there.
    """

    say: Text | None = None
    ask: Text | None = None
    check: Text | None = None
    do: Text | None = None
    answers: dict[str, tuple[ScriptStep, ...]] | None = None
    disposition: Code | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ScriptStep:
        given = [k for k in ("say", "ask", "check", "do") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a step has exactly one of say, ask, check or do")
        if self.answers is not None and self.ask is None:
            raise ValueError("only an `ask` step has answers")
        return self

    @property
    def kind(self) -> Literal["say", "ask", "check", "do"]:
        for kind in ("say", "ask", "check", "do"):
            if getattr(self, kind) is not None:
                return kind
        raise AssertionError("validated to have one kind")

    @property
    def text(self) -> str:
        value = getattr(self, self.kind)
        assert isinstance(value, str)
        return value


class Script(_Model):
    title: Text
    summary: str | None = None
    steps: tuple[ScriptStep, ...] = Field(min_length=1)


class ScriptCatalog(_Model):
    """`scripts.yaml`: topic -> script; `default` is shown when a call has no topic."""

    default: Topic | None = None
    scripts: dict[Topic, Script] = Field(min_length=1)

    def for_topic(self, topic: str | None) -> Script | None:
        """The script for a call's topic, else the default one, else None."""
        if topic is not None and topic in self.scripts:
            return self.scripts[topic]
        if self.default is not None:
            return self.scripts.get(self.default)
        return None


class PauseReasonCatalog(_Model):
    """`pause_reasons.yaml`: the agents' break reasons, in the order the Status menu
    offers them."""

    pause_reasons: list[PauseReason] = Field(min_length=1)

    @field_validator("pause_reasons")
    @classmethod
    def _distinct(cls, reasons: list[str]) -> list[str]:
        seen: set[str] = set()
        for reason in reasons:
            if reason in seen:
                raise ValueError(f"{reason!r} is listed twice")
            seen.add(reason)
        return reasons


CATALOG_FILES: Mapping[str, type[BaseModel]] = MappingProxyType(
    {
        "queues.yaml": QueueCatalog,
        "dispositions.yaml": DispositionCatalog,
        "scripts.yaml": ScriptCatalog,
        "schedules.yaml": ScheduleCatalog,
        "pause_reasons.yaml": PauseReasonCatalog,
    }
)
"""File name in `dialplan/` -> its model, in `ivr.layout.CATALOG_NAMES` order. Each file
is optional."""


@dataclass(frozen=True, slots=True)
class Catalog:
    """What the non-flow files of a dialplan say; None for a file that is absent."""

    queues: QueueCatalog | None = None
    dispositions: DispositionCatalog | None = None
    scripts: ScriptCatalog | None = None
    schedules: ScheduleCatalog | None = None
