"""The events websocket's pure parts: backoff and how a socket's end is read."""

from __future__ import annotations

import random

import aiohttp
import pytest

from ivr.ari.websocket import ABNORMAL_CLOSURE, Backoff, ConnectionLost, connection_lost


def test_backoff_grows_exponentially_within_jitter() -> None:
    backoff = Backoff(base_s=0.5, cap_s=30.0, rng=random.Random(7))
    for attempt in range(12):
        ceiling = min(30.0, 0.5 * 2**attempt)
        delay = backoff.delay(attempt)
        assert ceiling / 2 <= delay <= ceiling


def test_backoff_is_capped_even_after_very_many_attempts() -> None:
    backoff = Backoff(base_s=1.0, cap_s=10.0, rng=random.Random(1))
    assert backoff.delay(10_000) <= 10.0


def test_backoff_jitter_spreads_instances() -> None:
    delays = {Backoff(rng=random.Random(seed)).delay(5) for seed in range(20)}
    assert len(delays) > 10


@pytest.mark.parametrize(("base", "cap"), [(0, 1), (-1, 1), (2, 1)])
def test_backoff_refuses_nonsense(base: float, cap: float) -> None:
    with pytest.raises(ValueError):
        Backoff(base, cap)


def message(
    kind: aiohttp.WSMsgType, data: object = None, extra: str | None = None
) -> aiohttp.WSMessage:
    return aiohttp.WSMessage(kind, data, extra)


def test_a_close_frame_gives_its_code() -> None:
    # 06-asterisk-stop-gracefully: 88 02 03 e8, code 1000 with an empty reason.
    lost = connection_lost(message(aiohttp.WSMsgType.CLOSE, 1000, ""), 1000)
    assert lost == ConnectionLost(1000, "")


def test_a_dead_transport_is_1006_not_an_exception() -> None:
    # 05 and 07: no close frame, aiohttp reports CLOSED.
    assert connection_lost(message(aiohttp.WSMsgType.CLOSED), None) == ConnectionLost(
        ABNORMAL_CLOSURE
    )


def test_an_error_is_1006_with_its_reason() -> None:
    lost = connection_lost(message(aiohttp.WSMsgType.ERROR, ConnectionResetError("reset")), 1006)
    assert lost is not None and lost.code == ABNORMAL_CLOSURE and "reset" in lost.reason


def test_data_is_not_an_end() -> None:
    assert connection_lost(message(aiohttp.WSMsgType.TEXT, "{}"), None) is None
    assert connection_lost(message(aiohttp.WSMsgType.PONG, b""), None) is None
