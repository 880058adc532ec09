"""bench.ami_filter at its smallest, so that it cannot rot (timings are not asserted)."""

from __future__ import annotations

from bench import ami_filter


def test_both_recordings_are_replayed_and_the_filtered_one_is_the_smaller() -> None:
    figures = ami_filter.measure(seconds=0.01)
    assert figures["unfiltered"]["messages_per_call"] > figures["filtered"]["messages_per_call"]
    assert figures["filtered"]["cpu_us_per_call"] > 0
