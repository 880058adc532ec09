"""Digit collection with app-side timers, sans-I/O.

ARI has no GET DATA: the app sees one `ChannelDtmfReceived` per key and keeps its own
clock. `DigitCollector` holds the rules of `ivr.actions.Collect` and nothing else; the
channel feeds it keys and times and asks for the next deadline. Times are milliseconds
on any monotonic clock the caller chooses.

The rules match what FastAGI callers get from `GET DATA` (agi-transcripts/get-data.txt):
input ends at `max_digits`; at the terminator, which is dropped (the terminator alone
is an empty entry that did not time out: a caller asking to repeat is not silence);
after `timeout_ms` with no key, or `interdigit_ms` after the last key, which is a
timeout even with a partial entry. A key that stops the prompt is the first digit.
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr.actions import Collect

__all__ = ["Collected", "DigitCollector"]

DIGITS = frozenset("0123456789*#")


@dataclass(frozen=True, slots=True)
class Collected:
    digits: str
    timed_out: bool
    at_ms: float


class DigitCollector:
    """One `Collect`'s input. `arm(now)` once the prompts end; then `key()` and
    `expire()` until `result` is set. Keys after the result are ignored."""

    def __init__(self, collect: Collect) -> None:
        self._max = collect.max_digits
        self._terminator = collect.terminator
        self._first_ms = collect.timeout_ms
        self._inter_ms = collect.interdigit_ms
        self._digits = ""
        self._deadline: float | None = None
        self.result: Collected | None = None

    @property
    def digits(self) -> str:
        return self._digits

    @property
    def deadline(self) -> float | None:
        """When input times out, or None while the prompts still play (or when done)."""
        return None if self.result is not None else self._deadline

    def arm(self, now_ms: float) -> None:
        """The prompts ended: start the first-digit timer, unless a key already started
        the interdigit one."""
        if self.result is None and self._deadline is None:
            self._deadline = now_ms + self._first_ms

    def key(self, digit: str, now_ms: float) -> None:
        if self.result is not None:
            return
        if digit not in DIGITS:
            # ARI reports A-D too (a real keypad has them); an IVR never asks for them.
            return
        if self._terminator is not None and digit == self._terminator:
            self.result = Collected(self._digits, timed_out=False, at_ms=now_ms)
            return
        self._digits += digit
        if len(self._digits) >= self._max:
            self.result = Collected(self._digits, timed_out=False, at_ms=now_ms)
        else:
            self._deadline = now_ms + self._inter_ms

    def expire(self, now_ms: float) -> None:
        """Time passed: ends the input if its deadline is reached."""
        if self.result is None and self._deadline is not None and now_ms >= self._deadline:
            self.result = Collected(self._digits, timed_out=True, at_ms=now_ms)
