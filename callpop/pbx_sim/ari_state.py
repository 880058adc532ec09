"""The simulated Asterisk behind the ARI simulator: channels in Stasis, playbacks, apps
and the scripted callers, with no HTTP in sight (`callpop.pbx_sim.ari` serves it).

Every behaviour follows the recorded exchanges in tests/fixtures/asterisk/ari/:
- a channel enters `Stasis(app[,args])` in state `Ring`, at priority 2 of its
  extension, and the app gets `StasisStart` with `args`; with no app connected the
  channel gets `STASISSTATUS=FAILED` and goes on in the dialplan (08);
- `play` answers 201 with a `queued` Playback; `PlaybackStarted`, then for a playlist
  `PlaybackContinuing` + `PlaybackStarted` per item, then `PlaybackFinished` `done`; a
  missing sound finishes `failed` at once (01); DTMF never stops a playback (01); a
  stopped one finishes `done` and is forgotten (09: 404 afterwards);
- a caller hang-up sends `ChannelHangupRequest` (cause 16), the playback `failed`,
  `StasisEnd`; the app never sees `ChannelDestroyed` for it (02); an app hang-up sends
  `ChannelHangupRequest` (cause 32, soft) and `StasisEnd` (03);
- while an app has no websocket its channels stay, keep playing and take keys; their
  events are dropped, not queued; an app with neither websocket nor channels is
  destroyed (09).

Time: durations are the recorded ones (`KNOWN_SOUNDS_MS`, as in the AGI simulator),
multiplied by `time_scale` to get real seconds: tests run the caller and the IVR's
timers faster than real time by the same factor.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from callpop.pbx_sim.ari_model import (
    DEFAULT_SOUND_MS,
    DTMF_MS,
    HANGUP_CAUSES,
    KNOWN_SOUNDS_MS,
    SAY_DIGIT_MS,
    Scheduler,
    SimCall,
    SimChannel,
    SimError,
    SimPlayback,
    ari_time,
    channel_not_found,
    not_in_stasis,
)
from callpop.pbx_sim.script import CallerScript, HangUp, Keys, Silence, TurnCursor
from ivr.ari.channel import playback_kind

__all__ = ["AriState"]


class AriState:
    """Asterisk's side of ARI for the simulator. `emit(app, event)` sends an event to
    an app's websocket; the state decides whether that app is there to get it."""

    def __init__(
        self,
        *,
        scheduler: Scheduler,
        emit: Callable[[str, dict[str, Any]], None],
        time_scale: float = 1.0,
        sounds_ms: dict[str, int] | None = None,
        missing_sounds: frozenset[str] = frozenset(),
        asterisk_id: str = "02:fc:00:00:00:01",
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.scheduler = scheduler
        self._emit = emit
        self.time_scale = time_scale
        self.sounds_ms = {**KNOWN_SOUNDS_MS, **(sounds_ms or {})}
        self.missing_sounds = missing_sounds
        self.asterisk_id = asterisk_id
        self._now = now
        self._on_change = on_change
        self.channels: dict[str, SimChannel] = {}
        self.playbacks: dict[str, SimPlayback] = {}
        self.connected_apps: set[str] = set()
        self.calls: list[SimCall] = []
        self.missed_events = 0
        self._loop_time = asyncio.get_running_loop().time
        self._started = self._loop_time()

    # --- time ---------------------------------------------------------------------------

    def sim_ms(self) -> int:
        """Milliseconds of simulated time (real time / time_scale)."""
        return int((self._loop_time() - self._started) * 1000 / self.time_scale)

    def _later(self, channel: SimChannel | None, sim_ms: float, fn: Callable[[], None]) -> None:
        handle = self.scheduler.call_later(max(0.0, sim_ms) * self.time_scale / 1000, fn)
        if channel is not None:
            channel.timers.append(handle)

    # --- events -------------------------------------------------------------------------

    def event(self, app: str, kind: str, **fields: Any) -> None:
        body = {"type": kind, "timestamp": ari_time(self._now()), **fields}
        body.update(asterisk_id=self.asterisk_id, application=app)
        if app in self.connected_apps:
            self._emit(app, body)
        else:
            self.missed_events += 1  # "Inactive Stasis app 'callpop' missed message"
        self._on_change()

    def _channel_event(self, channel: SimChannel, kind: str, **fields: Any) -> None:
        if channel.stasis_app is not None:
            self.event(channel.stasis_app, kind, **fields, channel=channel.to_json())

    def _playback_event(self, playback: SimPlayback, kind: str) -> None:
        if playback.channel.stasis_app is not None:
            self.event(playback.channel.stasis_app, kind, playback=playback.to_json())

    # --- apps ---------------------------------------------------------------------------

    def app_exists(self, app: str) -> bool:
        return app in self.connected_apps or any(
            c.stasis_app == app for c in self.channels.values()
        )

    def application_json(self, app: str) -> dict[str, Any]:
        if not self.app_exists(app):
            raise SimError(404, "Not Found", "Application not found")
        return {
            "name": app,
            "channel_ids": [c.id for c in self.channels.values() if c.stasis_app == app],
            "bridge_ids": [],
            "endpoint_ids": [],
            "device_names": [],
            "events_allowed": [],
            "events_disallowed": [],
        }

    # --- the caller's side ----------------------------------------------------------------

    def originate(self, script: CallerScript, app: str, args: tuple[str, ...]) -> SimCall:
        """A call reaches `Stasis(app,args...)` in the dialplan."""
        if script.uniqueid in self.channels:
            raise ValueError(
                f"channel {script.uniqueid} is still up: give each call its own uniqueid"
            )
        loop = asyncio.get_running_loop()
        call = SimCall(script, script.uniqueid, app, args, ended=loop.create_future())
        self.calls.append(call)
        name = script.channel or f"PJSIP/trunk-{script.uniqueid.replace('.', '')[-8:]}"
        channel = SimChannel(
            id=script.uniqueid,
            name=name,
            call=call,
            created=ari_time(self._now()),
            state="Up" if script.answered else "Ring",
            context=script.context,
            exten=script.extension,
            priority=2,
            app_name="Stasis",
            app_data=",".join((app, *args)),
            cursor=TurnCursor(script.turns),
        )
        call.variables.update(script.variables)
        if app not in self.connected_apps:
            # 08: no app to take it; Stasis() fails and the dialplan goes on (then hangs up).
            call.stasis_status = "FAILED"
            call.variables["STASISSTATUS"] = "FAILED"
            call.ended.set_result("stasis-failed")
            self._on_change()
            return call
        self.channels[channel.id] = channel
        channel.stasis_app = app
        self._channel_event(channel, "StasisStart", args=list(args))
        return call

    def caller_hangs_up(self, channel: SimChannel) -> None:
        if channel.id not in self.channels:
            return
        self._hang_up(channel, cause=16, soft=False, by="caller")

    def _press(self, channel: SimChannel, digit: str) -> None:
        if channel.id not in self.channels or channel.cursor is None:
            return
        channel.cursor.take_key()
        channel.call.keys_sent.append(digit)
        self._channel_event(channel, "ChannelDtmfReceived", digit=digit, duration_ms=DTMF_MS)

    def _listening(self, channel: SimChannel, kind: str) -> None:
        """A prompt the IVR listens during has started: the caller's turn may start.

        A silent turn ends when the IVR's wait for keys runs out. ARI does not show that
        wait, but it follows a collection's prompts, so a silent turn is over when the
        IVR starts listening again after a collection (the AGI simulator sees the same
        moment as GET DATA's `(timeout)`).
        """
        cursor = channel.cursor
        if cursor is None:
            return
        if isinstance(cursor.active, Silence) and channel.silence_saw_collect:
            cursor.timed_out()
        now = self.sim_ms()
        before = cursor.active
        cursor.listen(now)
        turn = cursor.active
        if turn is not before:
            channel.silence_saw_collect = False
            if isinstance(turn, Keys):
                for at_ms, digit in turn.times(now):
                    self._later(
                        channel, at_ms - now, functools.partial(self._press, channel, digit)
                    )
            elif isinstance(turn, HangUp):
                self._later(channel, turn.delay_ms, lambda: self.caller_hangs_up(channel))
        if isinstance(cursor.active, Silence) and kind == "collect":
            channel.silence_saw_collect = True

    # --- REST: channels -------------------------------------------------------------------

    def request(
        self, channel_id: str, missing: Callable[[], SimError] = channel_not_found
    ) -> SimChannel:
        """The channel a request is about. Counts the requests on each channel: the
        caller script's `hangup_on_command` hangs up just before the N-th (from 0)."""
        channel = self.channels.get(channel_id)
        if channel is None:
            raise missing()
        planned = channel.call.script.hangup_on_command
        if planned is not None and channel.requests == planned:
            self.caller_hangs_up(channel)
        channel.requests += 1
        if channel.id not in self.channels:
            raise missing()
        return channel

    def stasis_channel(self, channel_id: str) -> SimChannel:
        channel = self.request(channel_id)
        if channel.stasis_app is None:
            raise not_in_stasis()
        return channel

    def answer(self, channel_id: str) -> None:
        channel = self.stasis_channel(channel_id)
        if channel.state != "Up":
            channel.state = "Up"
            self._channel_event(channel, "ChannelStateChange")

    def hangup(self, channel_id: str, reason_code: str | None, reason: str | None) -> None:
        channel = self.request(channel_id)
        if reason is not None and reason not in HANGUP_CAUSES:
            raise SimError(400, "Bad Request", "Invalid reason for hangup provided")
        cause = HANGUP_CAUSES[reason] if reason else 16
        if reason_code is not None:
            try:
                cause = int(reason_code)
            except ValueError:
                raise SimError(400, "Bad Request", "Invalid reason for hangup provided") from None
        channel.call.hangup_cause = cause
        self._hang_up(channel, cause=32, soft=True, by="application")

    def _hang_up(self, channel: SimChannel, *, cause: int, soft: bool, by: str) -> None:
        fields: dict[str, Any] = {"cause": cause, "soft": True} if soft else {"cause": cause}
        self._channel_event(channel, "ChannelHangupRequest", **fields)
        for playback in list(channel.playbacks):
            self._end_playback(playback, "failed", start_next=False)
        for timer in channel.timers:
            timer.cancel()
        channel.timers.clear()
        in_stasis = channel.stasis_app is not None
        if in_stasis:
            self._channel_event(channel, "StasisEnd")
            channel.stasis_app = None
        del self.channels[channel.id]
        call = channel.call
        call.hung_up_by = call.hung_up_by or by
        if call.hangup_cause is None:
            call.hangup_cause = cause
        if not call.ended.done():
            call.ended.set_result(f"hangup-{by}")

    def continue_in_dialplan(
        self, channel_id: str, context: str | None, extension: str | None, priority: str | None
    ) -> None:
        channel = self.stasis_channel(channel_id)
        try:
            number = int(priority) if priority else 1
        except ValueError:
            raise SimError(400, "Bad Request", "Invalid priority") from None
        for playback in list(channel.playbacks):
            self._end_playback(playback, "done", start_next=False)
        channel.context = context or channel.context
        channel.exten = extension or channel.exten
        channel.priority = number
        self._channel_event(channel, "StasisEnd")
        channel.stasis_app = None
        channel.app_name, channel.app_data = "NoOp", ""
        channel.call.continued_to = (channel.context, channel.exten, number)
        channel.call.stasis_status = channel.call.variables["STASISSTATUS"] = "SUCCESS"
        if not channel.call.ended.done():
            channel.call.ended.set_result("continued")

    def get_variable(self, channel_id: str, name: str | None) -> str:
        if not name:
            raise SimError(400, "Bad Request", "Variable name is required")
        # 04-errors: this route alone words its 404 differently.
        channel = self.request(
            channel_id, lambda: SimError(404, "Channel Not Found", "Provided channel was not found")
        )
        value = self._read(channel, name)
        if value is None:
            raise SimError(404, "Variable Not Found", "Provided variable was not found")
        return value

    def _read(self, channel: SimChannel, name: str) -> str | None:
        if name in channel.call.variables:
            return channel.call.variables[name]
        script = channel.call.script
        number, cname = script.caller.number or "", script.caller.name or ""
        return {
            "CHANNEL(linkedid)": script.linkedid or script.uniqueid,
            "CHANNEL(uniqueid)": script.uniqueid,
            "UNIQUEID": script.uniqueid,
            "CHANNEL(name)": channel.name,
            "CHANNEL(state)": channel.state,
            "CHANNEL(language)": script.language,
            "CALLERID(num)": number,
            "CALLERID(name)": cname,
            "CALLERID(all)": f'"{cname}" <{number}>' if cname else number,
            "CONTEXT": channel.context,
            "EXTEN": channel.exten,
        }.get(name)

    def set_variable(self, channel_id: str, name: str | None, value: str) -> None:
        if not name:
            raise SimError(400, "Bad Request", "Variable name is required")
        channel = self.stasis_channel(channel_id)
        channel.call.variables[name] = value
        self._channel_event(channel, "ChannelVarset", variable=name, value=value)

    # --- REST: playbacks ------------------------------------------------------------------

    def play(
        self, channel_id: str, media: list[str], playback_id: str | None, lang: str | None
    ) -> dict[str, Any]:
        if not media or not all(media):
            raise SimError(400, "Bad Request", "media: Missing required parameter")
        channel = self.stasis_channel(channel_id)
        pid = playback_id or str(uuid.uuid4())
        if pid in self.playbacks:
            raise SimError(409, "Conflict", "Playback with the same ID already exists")
        playback = SimPlayback(pid, channel, media, lang or channel.call.script.language)
        answer = playback.to_json()
        self.playbacks[pid] = playback
        channel.playbacks.append(playback)
        if len(channel.playbacks) == 1:
            self._start_item(playback, first=True)
        return answer

    def _duration_ms(self, uri: str) -> int | None:
        scheme, _, what = uri.partition(":")
        if scheme == "sound":
            return (
                None if what in self.missing_sounds else self.sounds_ms.get(what, DEFAULT_SOUND_MS)
            )
        if scheme == "digits":
            return SAY_DIGIT_MS * max(1, len(what))
        if scheme == "number":
            return SAY_DIGIT_MS * max(1, len(what.lstrip("-")))
        return None  # a media scheme the simulator does not play

    def _start_item(self, playback: SimPlayback, *, first: bool) -> None:
        channel = playback.channel
        uri = playback.media[playback.index]
        playback.state = "playing"
        channel.call.played.append(uri)
        self._playback_event(playback, "PlaybackStarted")
        if first:
            kind = playback_kind(playback.id)
            if kind in ("play", "collect"):
                self._listening(channel, kind)
        duration = self._duration_ms(uri)
        if duration is None:
            self._end_playback(playback, "failed")
            return
        playback.timer = self.scheduler.call_later(
            duration * self.time_scale / 1000, lambda: self._item_done(playback)
        )

    def _item_done(self, playback: SimPlayback) -> None:
        playback.timer = None
        if playback.index + 1 < len(playback.media):
            playback.state = "continuing"
            self._playback_event(playback, "PlaybackContinuing")
            playback.index += 1
            self._start_item(playback, first=False)
        else:
            self._end_playback(playback, "done")

    def _end_playback(self, playback: SimPlayback, state: str, *, start_next: bool = True) -> None:
        if playback.timer is not None:
            playback.timer.cancel()
            playback.timer = None
        channel = playback.channel
        was_playing = playback.state != "queued"
        playback.state = state
        self.playbacks.pop(playback.id, None)
        if playback in channel.playbacks:
            channel.playbacks.remove(playback)
        if was_playing:
            self._playback_event(playback, "PlaybackFinished")
        if start_next and channel.playbacks and channel.playbacks[0].state == "queued":
            self._start_item(channel.playbacks[0], first=True)

    def playback(self, playback_id: str) -> SimPlayback:
        playback = self.playbacks.get(playback_id)
        if playback is None:
            raise SimError(404, "Not Found", "Playback not found")
        return playback

    def stop_playback(self, playback_id: str) -> None:
        self._end_playback(self.playback(playback_id), "done")

    # --- shutdown -------------------------------------------------------------------------

    def stop_now(self) -> None:
        """`core stop now`: every channel is hung up (cause 4, soft) before the sockets go."""
        for channel in list(self.channels.values()):
            self._hang_up(channel, cause=4, soft=True, by="shutdown")
