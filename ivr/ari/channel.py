"""`ivr.ports.Channel` over ARI: one caller's channel in the Stasis app.

The app's dispatcher hands this channel the events that concern it (`deliver`); the
runner calls its methods. Facts from the recordings that shape it:
- a playback is not stopped by DTMF (01-ivr-call): on the first key of an interruptible
  prompt the channel stops the playback itself (`DELETE /playbacks/{id}`) and uses the key;
- digit collection has no server side: the timers live here (`ivr.ari.digits`);
- a caller hang-up gives ChannelHangupRequest, then the playback `failed`, StasisEnd and
  ChannelDestroyed (02-caller-hangs-up); any of them ends the session, as does a 404
  (the channel has gone) or a 409 (it left Stasis) on a REST call;
- while the app's websocket is away events are dropped, never replayed (09-app-websocket-
  reconnect): after a reconnect the app tells each channel `resynced()`, and a channel
  waiting for a playback asks `GET /playbacks/{id}` whether it ended meanwhile, or it is
  told `vanished()` when the caller left while nobody listened.

Keys count only while the channel listens (an interruptible prompt or a collection), as
under FastAGI, where keys pressed between commands are lost: both drivers must give the
same caller the same journey.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, Literal, TypeVar, get_args

from ivr import variables
from ivr.actions import Collect, Play, SayDigits, SayNumber, Sound, Spoken
from ivr.ari.client import AriClient
from ivr.ari.digits import DigitCollector
from ivr.ari.errors import AriConflict, AriNotFound, AriUnavailable
from ivr.ari.events import (
    AriEvent,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelHangupRequest,
    PlaybackFinished,
    StasisEnd,
)
from ivr.events import DigitsEntered
from ivr.loop_concurrency import LOOP
from ivr.ports import ChannelGone

__all__ = [
    "OPERATOR_EXTENSION",
    "ROUTE_CONTEXT",
    "AriChannel",
    "PlaybackKind",
    "media_uri",
    "playback_id",
    "playback_kind",
]

log = logging.getLogger(__name__)

# The dialplan context the IVR continues into, the same one the AGI route `Goto`s
# (design.md, "Asterisk side"): extension = CALLPOP_OUTCOME, `operator` when empty.
ROUTE_CONTEXT = "callpop-route"
OPERATOR_EXTENSION = "operator"

T = TypeVar("T")
Clock = Callable[[], float]


PlaybackKind = Literal["say", "play", "collect"]
_PLAYBACK_KINDS: frozenset[str] = frozenset(get_args(PlaybackKind))


def playback_id(kind: PlaybackKind) -> str:
    """The id the app gives a playback: `callpop-KIND-UUID`.

    ARI lets the app choose it (`playbackId`), which is what lets a `PlaybackFinished`
    that overtakes the 201 on the websocket be matched. The kind says whether keys
    count while it plays (`play`: an interruptible prompt, `collect`: the prompts of a
    digit collection) or not (`say`); it shows in Asterisk's log when a prompt is
    stopped, and a simulated caller reads it the way a real one hears a question.
    """
    return f"callpop-{kind}-{uuid.uuid4()}"


def playback_kind(pid: str) -> PlaybackKind | None:
    """The kind in a playback id made by `playback_id`, else None."""
    prefix, _, rest = pid.partition("-")
    kind, _, _ = rest.partition("-")
    if prefix == "callpop" and kind in _PLAYBACK_KINDS:
        return kind  # type: ignore[return-value]  # checked against the Literal's values
    return None


def media_uri(spoken: Spoken) -> str:
    """An ARI media URI: `sound:NAME`, `digits:123`, `number:42`."""
    if isinstance(spoken, Sound):
        return f"sound:{spoken.name}"
    if isinstance(spoken, SayDigits):
        return f"digits:{spoken.digits}"
    if isinstance(spoken, SayNumber):
        return f"number:{spoken.number}"
    raise TypeError(f"not a prompt: {spoken!r}")


@dataclass(frozen=True, slots=True)
class _Resynced:
    """The app's websocket came back: events may have been missed."""


@dataclass(frozen=True, slots=True)
class _Vanished:
    """The channel is no longer in the app and no event said so (it left while away)."""

    cause: str


_Signal = AriEvent | _Resynced | _Vanished


def _gone_cause(event: _Signal) -> str | None:
    """The ChannelGone cause an event means, or None if it does not end the channel."""
    if isinstance(event, ChannelHangupRequest):
        return "caller" if event.cause in (None, 16) else f"hangup-cause-{event.cause}"
    if isinstance(event, ChannelDestroyed):
        return "caller" if event.cause == 16 else f"hangup-cause-{event.cause}"
    if isinstance(event, StasisEnd):
        return "left-stasis"
    if isinstance(event, _Vanished):
        return event.cause
    return None


class AriChannel:
    """One channel in Stasis, as the runner's `Channel`."""

    concurrency: Final = LOOP

    def __init__(
        self,
        client: AriClient,
        channel_id: str,
        *,
        clock: Clock,
        route_context: str = ROUTE_CONTEXT,
        timer_scale: float = 1.0,
    ) -> None:
        if timer_scale <= 0:
            raise ValueError("timer_scale must be positive")
        self.client = client
        self.id = channel_id
        self.route_context = route_context
        self._clock = clock
        # Simulations run the caller and the IVR's timers faster than real time, both by
        # the same factor; 1.0 everywhere else. Flow times (ms) = real times / scale.
        self._scale = timer_scale
        self._started = clock()
        self._inbox: asyncio.Queue[tuple[float, _Signal]] = asyncio.Queue()
        self._outcome = ""
        self.gone: str | None = None
        self.finished = False

    # --- fed by the app ---------------------------------------------------------------

    def deliver(self, event: AriEvent) -> None:
        """An event about this channel (or one of its playbacks), in arrival order."""
        self._inbox.put_nowait((self._clock(), event))

    def resynced(self) -> None:
        self._inbox.put_nowait((self._clock(), _Resynced()))

    def vanished(self, cause: str = "vanished") -> None:
        self._inbox.put_nowait((self._clock(), _Vanished(cause)))

    def at_ms(self) -> int:
        """Flow milliseconds since the channel entered the app."""
        return max(0, int(self._flow_ms(self._clock() - self._started)))

    def _flow_ms(self, seconds: float) -> float:
        return seconds * 1000 / self._scale

    def _real_s(self, flow_ms: float) -> float:
        return flow_ms * self._scale / 1000

    # --- ivr.ports.Channel ------------------------------------------------------------

    async def answer(self) -> None:
        await self._rest(self.client.answer(self.id))

    async def read_variable(self, name: str) -> str:
        """A channel variable or dialplan function; "" if unset."""
        try:
            return await self.client.get_variable(self.id, name)
        except AriNotFound as exc:
            # The same 404 means "no such channel" or "no such variable"; only the text
            # tells them apart (01-ivr-call: "Provided variable was not found").
            if "variable" in exc.message.lower():
                return ""
            raise self._end("gone") from None
        except AriConflict:
            raise self._end("left-stasis") from None
        except AriUnavailable as exc:
            log.warning("ARI unreachable for channel %s: %s", self.id, exc)
            raise self._end("ari-unavailable") from None

    async def play(self, play: Play) -> str:
        self._check()
        if not play.prompts:
            return ""
        keys: list[str] = []

        def first_key(digit: str, now: float) -> bool:
            keys.append(digit)
            return True

        if play.interruptible:
            await self._playback(play.prompts, first_key, "play")
        else:
            await self._playback(play.prompts, None, "say")
        return "".join(keys)

    async def collect(self, collect: Collect) -> DigitsEntered:
        self._check()
        collector = DigitCollector(collect)

        def on_key(digit: str, now: float) -> bool:
            collector.key(digit, self._flow_ms(now))
            return True

        since = self._clock()
        if collect.prompts:
            since = await self._playback(collect.prompts, on_key, "collect")
        collector.arm(self._flow_ms(self._clock()))
        while collector.result is None:
            deadline = collector.deadline
            signal = await self._next(since, None if deadline is None else self._real_s(deadline))
            if signal is None:
                collector.expire(self._flow_ms(self._clock()))
            elif isinstance(signal, ChannelDtmfReceived):
                collector.key(signal.digit, self._flow_ms(self._clock()))
        result = collector.result
        assert result is not None  # the loop above ends only with a result
        return DigitsEntered(result.digits, at_ms=self.at_ms(), timed_out=result.timed_out)

    async def say(self, prompts: tuple[Spoken, ...]) -> None:
        self._check()
        if prompts:
            await self._playback(prompts, None, "say")

    async def set_variables(self, variables_: tuple[tuple[str, str], ...]) -> None:
        self._check()
        for name, value in variables_:
            await self._rest(self.client.set_variable(self.id, name, value))
            if name == variables.OUTCOME:
                self._outcome = value

    async def finish(self, *, hangup: bool) -> None:
        """Hang up, or `continue` into `callpop-route` at the outcome's extension."""
        self._check()
        if hangup:
            await self._rest(self.client.hangup(self.id))
        else:
            extension = self._outcome or OPERATOR_EXTENSION
            await self._rest(
                self.client.continue_in_dialplan(self.id, self.route_context, extension, 1)
            )
        self.finished = True

    # --- internals --------------------------------------------------------------------

    def _check(self) -> None:
        if self.gone is not None:
            raise ChannelGone(self.gone)

    def _end(self, cause: str) -> ChannelGone:
        if self.gone is None:
            self.gone = cause
        return ChannelGone(self.gone)

    async def _rest(self, call: Awaitable[T]) -> T:
        """A REST call on this channel: a channel that has gone ends the session quietly."""
        try:
            return await call
        except AriNotFound:
            raise self._end("gone") from None
        except AriConflict:
            raise self._end("left-stasis") from None
        except AriUnavailable as exc:
            # Asterisk is down or stuck: nothing more can be done for this caller here.
            # If the channel survives, the resync after the reconnect sends it on.
            log.warning("ARI unreachable for channel %s: %s", self.id, exc)
            raise self._end("ari-unavailable") from None

    async def _next(self, since: float, deadline: float | None) -> _Signal | None:
        """The next signal that still matters, None at `deadline` (clock seconds).

        Raises ChannelGone for a hang-up. Keys delivered before `since` are dropped:
        nobody listened when they were pressed.
        """
        while True:
            try:
                if deadline is None:
                    received, signal = await self._inbox.get()
                else:
                    async with asyncio.timeout_at(self._loop_deadline(deadline)):
                        received, signal = await self._inbox.get()
            except TimeoutError:
                return None
            cause = _gone_cause(signal)
            if cause is not None:
                raise self._end(cause)
            if isinstance(signal, ChannelDtmfReceived) and received < since:
                continue
            return signal

    def _loop_deadline(self, deadline: float) -> float:
        # The clock is the loop's by default; a test clock is mapped onto the loop's.
        loop = asyncio.get_running_loop()
        return loop.time() + (deadline - self._clock())

    async def _playback(
        self,
        prompts: tuple[Spoken, ...],
        on_key: Callable[[str, float], bool] | None,
        kind: PlaybackKind,
    ) -> float:
        """Play `prompts` as one playlist and wait for its end, or for a key that
        `on_key` says stops it. Returns when listening started (for `_next`)."""
        pid = playback_id(kind)
        since = self._clock()
        await self._rest(
            self.client.play(self.id, [media_uri(p) for p in prompts], playback_id=pid)
        )
        while True:
            signal = await self._next(since, None)
            if isinstance(signal, PlaybackFinished) and signal.playback.id == pid:
                if signal.playback.state == "failed":
                    log.warning(
                        "playback %s on channel %s failed: %r",
                        pid,
                        self.id,
                        signal.playback.media_uri,
                    )
                return since
            if isinstance(signal, ChannelDtmfReceived) and on_key is not None:
                if on_key(signal.digit, self._clock()):
                    await self._stop(pid)
                    return since
            elif isinstance(signal, _Resynced) and await self._ended_while_away(pid):
                return since

    async def _stop(self, playback_id: str) -> None:
        try:
            await self.client.stop_playback(playback_id)
        except AriNotFound:
            pass  # it ended on its own meanwhile
        except AriUnavailable as exc:
            log.warning("ARI unreachable for channel %s: %s", self.id, exc)
            raise self._end("ari-unavailable") from None

    async def _ended_while_away(self, playback_id: str) -> bool:
        """After a reconnect: did the playback end while its PlaybackFinished was lost?"""
        try:
            snapshot = await self.client.get_playback(playback_id)
        except AriNotFound:
            return True  # a finished playback is forgotten at once (09: 404 after reconnect)
        except AriUnavailable as exc:
            log.warning("ARI unreachable for channel %s: %s", self.id, exc)
            raise self._end("ari-unavailable") from None
        return snapshot.state in ("done", "failed")
