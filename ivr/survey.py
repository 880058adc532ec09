"""The post-call survey: events in, actions out, no I/O (docs/dialplan.md, "Post-call
surveys").

A queue transfer with `survey: NAME` leaves `CALLPOP_SURVEY=FLOW/NAME` on the caller's
channel; the emitted dialplan runs `Queue()` with option `c`, so when the agent hangs
up the caller's channel goes on in the dialplan (`QUEUESTATUS=CONTINUE`) and reaches
callpop again (FastAGI `/survey`). A `SurveySession` then asks the survey's questions:

- each question is one `Collect` of one key; `1`..`5` is the answer (1 worst, 5 best),
  handed to the driver at once as `SurveyAnswer` (stored before the next question, so a
  caller who hangs up midway keeps the answers given);
- any other key (`0`, `6`-`9`, `*`, `#`) is invalid and silence a timeout, counted per
  question with the survey's (else the flow's settings') prompts and limits, exactly as
  a menu counts them; a counter that runs out ends the survey (a caller who does not
  answer is not kept on the line);
- the end is the survey's `thanks_prompts` and a hang-up.

The session is separate from `ivr.session.Session`: a survey is not an IVR visit (no
journey, no outcome for the dialplan, no operator to fall back to), and the call's
journey, stored when the IVR ended, stays as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Final, Literal, Protocol

from ivr.actions import Collect, Hangup, Spoken
from ivr.callflow import Prompt, Settings, Survey
from ivr.compiled import CompiledFlows, compiled
from ivr.errors import FlowError, SessionError
from ivr.events import CallStarted, DigitsEntered, HungUp
from ivr.templates import resolve

if TYPE_CHECKING:
    from ivr import flow as model

__all__ = [
    "SurveyAction",
    "SurveyAnswer",
    "SurveyEnd",
    "SurveyEvent",
    "SurveyLeg",
    "SurveyServices",
    "SurveySession",
    "parse_survey_ref",
    "survey_ref",
]

# The keys a survey answer is given with: a score from 1 (worst) to 5 (best).
SURVEY_SCORES: Final = ("1", "2", "3", "4", "5")

SurveyEnd = Literal["completed", "max-invalid", "max-timeouts", "hangup", "error"]

_SEPARATOR: Final = "/"


def survey_ref(flow_id: str, name: str) -> str:
    """`FLOW/NAME`, the value of CALLPOP_SURVEY: survey names are the flow file's own."""
    return f"{flow_id}{_SEPARATOR}{name}"


def parse_survey_ref(ref: str) -> tuple[str, str]:
    """(flow id, survey name) from `FLOW/NAME`; ValueError for anything else."""
    flow_id, sep, name = ref.partition(_SEPARATOR)
    if not sep or not flow_id or not name or _SEPARATOR in name:
        raise ValueError(f"a survey is named FLOW/NAME, not {ref!r}")
    return flow_id, name


@dataclass(frozen=True, slots=True)
class SurveyAnswer:
    """Store one answer now; the driver's runner awaits the store and feeds nothing back.
    `position` is the question's 1-based place in the survey."""

    flow: str
    survey: str
    question: str
    position: int
    score: int

    def __post_init__(self) -> None:
        if not 1 <= self.score <= len(SURVEY_SCORES):
            raise ValueError(f"a survey score is 1 to {len(SURVEY_SCORES)}, not {self.score}")


@dataclass(frozen=True, slots=True)
class SurveyLeg:
    """What the survey is about, as the caller's channel tells it after the queue call:
    the call id (CALLPOP_CALL_ID), the queue (QUEUENAME) and the agent who took the call
    (MEMBERINTERFACE, MEMBERNAME: `setinterfacevar = yes` in queues.conf)."""

    call_id: str
    queue: str
    interface: str
    member_name: str = ""


class SurveyServices(Protocol):
    async def record_survey_answer(
        self, answer: SurveyAnswer, leg: SurveyLeg, *, at: datetime
    ) -> None:
        """Store one answer with its call, queue and agent, within the lookup budget;
        never raises (a store that fails loses that answer, logged once per change of
        state: the caller is not kept waiting for it)."""
        ...


SurveyAction = Collect | SurveyAnswer | Hangup
SurveyEvent = CallStarted | DigitsEntered | HungUp


class _Phase(Enum):
    IDLE = "idle"
    ASKING = "asking"
    ENDED = "ended"


class SurveySession:
    """One caller's survey. `ref` is CALLPOP_SURVEY (`FLOW/NAME`); an unknown flow or
    survey is a `FlowError` now, before the caller hears anything."""

    __slots__ = (
        "_flow_id", "_index", "_invalid", "_name", "_phase", "_settings", "_survey",
        "_timeouts", "answers", "end",
    )  # fmt: skip

    def __init__(self, flows: Mapping[str, model.Flow] | CompiledFlows, ref: str) -> None:
        try:
            flow_id, name = parse_survey_ref(ref)
        except ValueError as exc:
            raise FlowError(str(exc), flow=ref) from None
        flow = compiled(flows).get(flow_id)
        if flow is None:
            raise FlowError(f"no flow {flow_id!r} for survey {name!r}", flow=flow_id)
        survey = flow.surveys.get(name)
        if survey is None:
            raise FlowError(f"no survey {name!r} in surveys:", flow=flow_id)
        self._flow_id = flow_id
        self._name = name
        self._survey: Survey = survey
        self._settings: Settings = flow.settings
        self._phase = _Phase.IDLE
        self._index = 0
        self._invalid = 0
        self._timeouts = 0
        self.answers: list[SurveyAnswer] = []
        """The answers given so far, in order."""
        self.end: SurveyEnd | None = None
        """How the survey ended, once it has."""

    @property
    def flow_id(self) -> str:
        return self._flow_id

    @property
    def name(self) -> str:
        return self._name

    @property
    def ended(self) -> bool:
        return self._phase is _Phase.ENDED

    def handle(self, event: SurveyEvent) -> list[SurveyAction]:
        """Feed one event; get the actions to carry out, in order (the last one waits for
        `DigitsEntered` or is the final `Hangup`)."""
        if self._phase is _Phase.IDLE:
            if not isinstance(event, CallStarted):
                raise SessionError(
                    f"the first event must be CallStarted, not {type(event).__name__}"
                )
            self._phase = _Phase.ASKING
            intro = self._spoken(self._survey.intro_prompts)
            return [self._ask(intro)]
        if isinstance(event, HungUp):
            if self._phase is _Phase.ASKING:
                self._finish("hangup")
            return []
        if self._phase is _Phase.ENDED:
            raise SessionError(f"{type(event).__name__} after the survey ended")
        if not isinstance(event, DigitsEntered):
            self._finish("error")
            raise SessionError(
                f"{type(event).__name__} does not answer the pending question "
                "(expected DigitsEntered)"
            )
        key = event.digits[:1]
        if key in SURVEY_SCORES:
            return self._answered(int(key))
        if key == "" and event.timed_out:
            return self._failed("timeout")
        return self._failed("invalid")

    def abort(self) -> None:
        """The driver cannot go on (its channel failed): the answers stay as given."""
        if self._phase is not _Phase.ENDED:
            self._finish("error")

    # --- the questions --------------------------------------------------------------------

    def _answered(self, score: int) -> list[SurveyAction]:
        question = self._survey.questions[self._index]
        answer = SurveyAnswer(self._flow_id, self._name, question.id, self._index + 1, score)
        self.answers.append(answer)
        self._index += 1
        self._invalid = self._timeouts = 0
        if self._index == len(self._survey.questions):
            return [answer, self._close("completed")]
        return [answer, self._ask()]

    def _failed(self, what: Literal["invalid", "timeout"]) -> list[SurveyAction]:
        survey, settings = self._survey, self._settings
        if what == "invalid":
            self._invalid += 1
            count, limit = self._invalid, survey.max_invalid or settings.max_invalid
            prompts = survey.invalid_prompts
            prompts = settings.invalid_prompts if prompts is None else prompts
        else:
            self._timeouts += 1
            count, limit = self._timeouts, survey.max_timeouts or settings.max_timeouts
            prompts = survey.timeout_prompts
            prompts = settings.timeout_prompts if prompts is None else prompts
        if count >= limit:
            return [self._close("max-invalid" if what == "invalid" else "max-timeouts")]
        return [self._ask(self._spoken(prompts))]

    def _ask(self, lead: tuple[Spoken, ...] = ()) -> Collect:
        question = self._survey.questions[self._index]
        return Collect(
            prompts=lead + self._spoken(question.prompts),
            max_digits=1,
            timeout_ms=self._survey.timeout or self._settings.timeout,
            interdigit_ms=self._settings.interdigit_timeout,
        )

    def _close(self, end: SurveyEnd) -> Hangup:
        self._finish(end)
        return Hangup((), self._spoken(self._survey.thanks_prompts))

    def _finish(self, end: SurveyEnd) -> None:
        self.end = end
        self._phase = _Phase.ENDED

    @staticmethod
    def _spoken(prompts: tuple[Prompt, ...]) -> tuple[Spoken, ...]:
        # A survey knows no caller data: a template (`{caller.number}`) says nothing.
        return resolve(prompts, lambda name: None)
