"""The FastAGI load driver: Asterisk's side of many calls at once, answering from the
transcript (`bench.agi_transcript`).

Each call is a small protocol object, not a coroutine, so the driver spends a few
microseconds per command and the server under test is what saturates. It keeps
Asterisk's rules: the environment block first, one command at a time (a second command
before the answer is a protocol error here, as Asterisk would leave it unanswered), a
last `HANGUP` when the server ends the session. A command that does not match the
transcript fails the call: every row of the table walked the same path.

Classic AGI is driven the same way over a child process's stdin/stdout, spawned per
call as Asterisk does (SIGHUP when the caller hangs up; once the script closes its
stdout, Asterisk waits for it to exit).

`time_scale` 0 answers at once (throughput, CPU); 1.0 waits as long as each command
takes on a real channel (latency, memory with calls held open).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

from bench.agi_transcript import REF_CALL_ID, Transcript, command_key, script_for
from callpop.pbx_sim.agi_channel import AgiChannelSim, SimOptions
from callpop.pbx_sim.fastagi import environment_block
from callpop.pbx_sim.script import CallerScript

__all__ = ["LoadResult", "Plan", "run_load"]

_HANGUP = b"HANGUP\n"
_DEAD_OPTIONS = SimOptions()


@dataclass(frozen=True, slots=True)
class Plan:
    """The compiled transcript: per step the key to match, the answer bytes (split
    where the call id goes) and the delay."""

    keys: tuple[bytes, ...]
    answers: tuple[tuple[bytes, ...], ...]
    delays_s: tuple[float, ...]

    @classmethod
    def of(cls, transcript: Transcript, time_scale: float) -> Plan:
        return cls(
            tuple(command_key(s.command.encode()) for s in transcript.steps),
            tuple(tuple(s.answer.encode().split(REF_CALL_ID.encode())) for s in transcript.steps),
            tuple(s.duration_ms / 1000 * time_scale for s in transcript.steps),
        )


@dataclass
class LoadResult:
    calls: int = 0
    completed: int = 0
    failed: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # server think time per command
    positions: list[int] = field(default_factory=list)  # each latency's command's step in the path
    peak_in_flight: int = 0
    held: int = 0  # calls open at once when the callers hung up (`hold_s`)
    hung_up: int = 0  # calls that ended with the caller's hang-up, as planned

    def fail(self, reason: str) -> None:
        self.fail_many(reason, 1)

    def fail_many(self, reason: str, count: int) -> None:
        if count > 0:
            self.failed += count
            self.failures[reason] = self.failures.get(reason, 0) + count

    @property
    def calls_per_s(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0


class _Call:
    """Asterisk's side of one AGI session over any transport."""

    __slots__ = (
        "buf",
        "call_id",
        "dead",
        "done",
        "hangup_pending",
        "in_flight",
        "plan",
        "result",
        "sent_at",
        "step",
        "timer",
        "transport",
        "waiting",
        "write",
    )

    def __init__(
        self, plan: Plan, call_id: bytes, result: LoadResult, done: Callable[[_Call], None]
    ) -> None:
        self.plan = plan
        self.call_id = call_id
        self.result = result
        self.done = done
        self.buf = b""
        self.step = 0
        self.waiting = False
        self.sent_at = 0.0
        self.write: Callable[[bytes], None] = lambda data: None
        self.transport: asyncio.BaseTransport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.in_flight = b""  # the command being carried out
        self.dead: AgiChannelSim | None = None  # after the hang-up: Asterisk's dead channel
        self.hangup_pending = False

    def start(self, env: bytes) -> None:
        self.write(env)
        self.sent_at = time.perf_counter()

    def feed(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        while True:
            end = buf.find(b"\n")
            if end < 0:
                break
            self._command(buf[:end])
            buf = buf[end + 1 :]
            if self.transport is None:
                return
        self.buf = buf

    def _command(self, line: bytes) -> None:
        now = time.perf_counter()
        plan = self.plan
        if self.dead is not None:
            return self._dead_answer(line)
        if self.waiting:
            return self._abort("pipelined command")
        if self.step >= len(plan.keys):
            return self._abort("command after the path ended")
        key = command_key(line)
        if key != plan.keys[self.step]:
            # An MSet's key is its names: shown whole, they say which variables differed
            # (a lookup past its budget leaves the customer's out).
            shown = key if key.startswith(b'EXEC "MSet" ') else line[:40]
            return self._abort(f"unexpected command {shown!r}")
        self.result.latencies.append(now - self.sent_at)
        self.result.positions.append(self.step)
        index = self.step
        self.step += 1
        delay = plan.delays_s[index]
        if delay > 0:
            self.waiting = True
            self.in_flight = line
            self.timer = asyncio.get_running_loop().call_later(delay, self._answer, index)
        else:
            self._answer(index)

    def hang_up(self) -> None:
        """The caller hangs up now, as hangup-mid-playback.txt and hangup-idle.txt show:
        the running command ends with -1 and a `HANGUP` line follows; a server between
        commands gets the `HANGUP` line first; the channel is dead from then on."""
        if self.transport is None or self.dead is not None:
            return
        self.dead = AgiChannelSim(CallerScript(), _DEAD_OPTIONS)
        self.dead.dead = True
        if self.waiting:
            assert self.timer is not None
            self.timer.cancel()
            self.waiting = False
            interrupted = (
                b"200 result=-1 endpos=0\n"
                if self.in_flight[:12].upper() == b"STREAM FILE "
                else b"200 result=-1\n"
            )
            self.write(interrupted + _HANGUP)
        else:
            self.hangup_pending = True

    def _dead_answer(self, line: bytes) -> None:
        assert self.dead is not None
        out = self.dead.handle(line)
        first = _HANGUP if self.hangup_pending else b""
        self.hangup_pending = False
        self.write(first + b"".join(answer + b"\n" for answer in out.lines))

    def _answer(self, index: int) -> None:
        self.waiting = False
        if self.transport is None:
            return
        parts = self.plan.answers[index]
        self.write(parts[0] if len(parts) == 1 else self.call_id.join(parts))
        self.sent_at = time.perf_counter()

    def _abort(self, reason: str) -> None:
        self.result.fail(reason)
        transport, self.transport = self.transport, None
        self.step = -1
        if transport is not None:
            transport.close()

    def cut(self) -> None:
        """Stop the call where it is (already counted as failed by the caller)."""
        transport, self.transport = self.transport, None
        self.step = -1
        if transport is not None:
            transport.close()

    def finished(self) -> None:
        """The server ended the session (EOF or exit)."""
        if self.dead is not None and self.step >= 0:
            self.result.hung_up += 1
        elif self.step == len(self.plan.keys) and not self.waiting:
            self.result.completed += 1
        elif self.step >= 0:
            self.result.fail("ended before the path's end")
        self.transport = None
        self.done(self)


class _FastAgi(asyncio.Protocol):
    def __init__(self, call: _Call, env: bytes) -> None:
        self.call = call
        self.env = env

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio's: no isinstance here.
        tcp = cast(asyncio.Transport, transport)
        self.call.transport = tcp
        self.call.write = tcp.write
        self.call.start(self.env)

    def data_received(self, data: bytes) -> None:
        self.call.feed(data)

    def eof_received(self) -> bool:
        # The server half-closed: Asterisk writes a last HANGUP (half-close.txt), closes.
        if self.call.transport is not None:
            with contextlib.suppress(Exception):
                self.call.transport.write(_HANGUP)  # type: ignore[attr-defined]
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.call.finished()


class _Classic:
    """A classic AGI script: commands on its stdout, answers on its stdin.

    Spawned with plain pipes, as Asterisk does (res_agi), and watched through a pidfd
    rather than with the loop's subprocess support: under uvloop, libuv keeps a copy of
    the child's pipe ends until the child exits, so a script that closes its stdout to
    end the AGI would be seen doing so only once it exits."""

    def __init__(self, call: _Call, process: subprocess.Popen[bytes]) -> None:
        self.call = call
        self.process = process
        self.stdin: asyncio.WriteTransport | None = None
        self.exited = False
        self.stdout_closed = False

    @classmethod
    async def spawn(
        cls,
        call: _Call,
        env: bytes,
        argv: Sequence[str],
        environ: Mapping[str, str] | None = None,
    ) -> None:
        loop = asyncio.get_running_loop()
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        try:
            # Fork and exec block the loop as briefly as the loop's own subprocess_exec.
            process = subprocess.Popen(  # noqa: ASYNC220
                argv,
                stdin=in_r,
                stdout=out_w,
                stderr=subprocess.DEVNULL,
                env=environ,
            )
        except BaseException:
            os.close(in_w)
            os.close(out_r)
            raise
        finally:
            os.close(in_r)
            os.close(out_w)
        classic = cls(call, process)
        pidfd = os.pidfd_open(process.pid)
        loop.add_reader(pidfd, classic._on_exit, pidfd)
        stdin, _ = await loop.connect_write_pipe(
            asyncio.BaseProtocol, os.fdopen(in_w, "wb", buffering=0)
        )
        classic.stdin = stdin
        await loop.connect_read_pipe(
            lambda: _ClassicStdout(classic), os.fdopen(out_r, "rb", buffering=0)
        )
        call.transport = classic  # type: ignore[assignment]  # close() ends the call
        call.write = stdin.write
        call.start(env)

    def close(self) -> None:
        """The benchmark cuts the call: kill the script (Asterisk's hang-up would too)."""
        if not self.exited:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        if self.stdin is not None:
            self.stdin.close()

    def _on_exit(self, pidfd: int) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(pidfd)
        os.close(pidfd)
        self.process.wait()  # reaped: its CPU counts in RUSAGE_CHILDREN
        self.exited = True
        # res_agi closes a script's stdin once it has exited (agi_exec_full), not before.
        if self.stdin is not None:
            self.stdin.close()
        self._maybe_finished()

    def stdout_ended(self) -> None:
        # The script's stdout ended: the AGI is over, and Asterisk waits for the script
        # to exit (run_agi: `waitpid`), sending it no SIGHUP.
        self.stdout_closed = True
        self._maybe_finished()

    def _maybe_finished(self) -> None:
        # Both: every answer the script wrote is read before the call is judged.
        if self.exited and self.stdout_closed:
            self.call.finished()


class _ClassicStdout(asyncio.Protocol):
    def __init__(self, classic: _Classic) -> None:
        self.classic = classic

    def data_received(self, data: bytes) -> None:
        self.classic.call.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.classic.stdout_ended()


def environments(
    transcript: Transcript,
    count: int,
    *,
    network: str | None,
    port: int,
    callers: Sequence[str] = (),
    args: Sequence[str] = (),
    first: int = 0,
) -> list[tuple[bytes, bytes]]:
    """(call id, environment block) of `count` calls, made before anything is timed;
    caller numbers taken in turn from `callers` (the transcript's caller if empty). Calls
    are numbered from `first` (several drivers at one server each take their own range:
    the call id keys the journey)."""
    out = []
    numbers = list(callers) or [transcript.caller]
    for n in range(first, first + count):
        call_id = f"1795400000.{n + 1}"
        script = script_for(transcript.keys, numbers[n % len(numbers)], call_id)
        request = f"agi://127.0.0.1:{port}/{network}" if network is not None else "bench-agi"
        env = environment_block(
            script,
            request=request,
            network_script=network,
            args=args,
            channel_name=f"PJSIP/trunk-{n + 1:08x}",
        )
        out.append((call_id.encode(), env))
    return out


async def run_load(
    transcript: Transcript,
    *,
    calls: int,
    concurrency: int,
    time_scale: float,
    port: int = 0,
    argv: Sequence[str] | None = None,
    sample: Callable[[int], None] | None = None,
    sample_every_s: float = 0.1,
    ramp_per_tick: int = 100,
    start_over_s: float = 0.0,
    callers: Sequence[str] = (),
    network_script: str = "ivr?flow=main",
    args: Sequence[str] = (),
    deadline_s: float = 600.0,
    hold_s: float | None = None,
    at_plateau: Callable[[int], None] | None = None,
    hold_until: Awaitable[object] | None = None,
    first_call: int = 0,
    result: LoadResult | None = None,
    environ: Mapping[str, str] | None = None,
) -> LoadResult:
    """Place `calls` calls, `concurrency` at a time: to 127.0.0.1:`port` (FastAGI), or by
    spawning `argv` per call (classic AGI). `sample(in_flight)` is called every
    `sample_every_s` while calls run (memory readings). New calls start at most
    `ramp_per_tick` per loop pass, so a burst never overflows the listen backlog, and
    the first `concurrency` calls are spread evenly over `start_over_s` seconds (calls
    held open arrive over a while, as on a real PBX, not all in one instant). Calls
    still running after `deadline_s` are cut and count as failed (a stuck server must
    not hang the benchmark). With `hold_s`, once every call has started the calls are
    held `hold_s` seconds more, `at_plateau(calls open)` is called, and every caller
    hangs up (the calls count in `hung_up`, not `completed`). `environ` is a classic
    script's environment (default: this process's). `first_call` numbers the
    calls' ids from there (several drivers at one server). With `hold_until`, the callers
    hang up once it is done (after `hold_s` and `at_plateau`), not before. `result` is
    filled as the calls run (read it meanwhile), a new one if not given."""
    loop = asyncio.get_running_loop()
    plan = Plan.of(transcript, time_scale)
    envs = environments(
        transcript,
        calls,
        network=None if argv else network_script,
        port=port,
        callers=callers,
        args=args,
        first=first_call,
    )
    if result is None:
        result = LoadResult()
    result.calls = calls
    in_flight = 0
    started_calls = 0
    all_done = loop.create_future()
    slots = asyncio.Event()

    live: set[_Call] = set()

    def done(call: _Call) -> None:
        nonlocal in_flight
        live.discard(call)
        in_flight -= 1
        slots.set()
        if result.completed + result.failed + result.hung_up >= calls and not all_done.done():
            all_done.set_result(None)

    async def start(n: int) -> None:
        call_id, env = envs[n]
        call = _Call(plan, call_id, result, done)
        live.add(call)
        try:
            if argv is None:
                await loop.create_connection(lambda: _FastAgi(call, env), "127.0.0.1", port)
            else:
                await _Classic.spawn(call, env, argv, environ)
        except OSError as exc:
            result.fail(f"could not start: {type(exc).__name__}")
            done(call)

    async def sampler() -> None:
        while True:
            await asyncio.sleep(sample_every_s)
            if sample is not None:
                sample(in_flight)

    sampling = asyncio.create_task(sampler())
    pending: set[asyncio.Task[None]] = set()
    t0 = time.perf_counter()

    async def place_all() -> None:
        nonlocal in_flight, started_calls
        while started_calls < calls:
            budget = min(concurrency - in_flight, calls - started_calls, ramp_per_tick)
            if start_over_s > 0 and started_calls < concurrency:
                due = int((time.perf_counter() - t0) / start_over_s * concurrency) + 1
                budget = min(budget, due - started_calls)
                if budget <= 0:
                    await asyncio.sleep(0.005)
                    continue
            if budget <= 0:
                slots.clear()
                await slots.wait()
                continue
            for _ in range(budget):
                in_flight += 1
                task = asyncio.create_task(start(started_calls))
                pending.add(task)
                task.add_done_callback(pending.discard)
                started_calls += 1
            result.peak_in_flight = max(result.peak_in_flight, in_flight)
            await asyncio.sleep(0)
        if hold_s is not None:
            await asyncio.gather(*pending, return_exceptions=True)
            await asyncio.sleep(hold_s)
            result.held = len(live)
            if at_plateau is not None:
                at_plateau(len(live))
            if hold_until is not None:
                await hold_until
            for call in list(live):
                call.hang_up()
        await all_done

    try:
        try:
            async with asyncio.timeout(deadline_s):
                await place_all()
        except TimeoutError:
            result.fail_many(
                "cut at the deadline", calls - result.completed - result.failed - result.hung_up
            )
            for call in list(live):
                call.cut()
        result.seconds = time.perf_counter() - t0
    finally:
        for task in (sampling, *pending):
            task.cancel()
        await asyncio.gather(sampling, *pending, return_exceptions=True)
    return result
