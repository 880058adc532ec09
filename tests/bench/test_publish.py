"""`python -m bench.publish`: a section measured in a partial run joins the published
figures, says it was measured on its own, and brings its target rows without a baseline."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest

from bench.publish import publish
from bench.report import Report, Section, Table


def journeys_section(max_s: float) -> Section:
    return Section(
        key="journeys",
        title="5. Journey report over stored journeys",
        intro="The report over stored journeys.",
        tables=[Table("", ["filter", "s"], [["all", max_s]])],
        data={"size": 1_000_000, "sqlite": {"all": {"max_s": max_s}}},
    )


def report(sections: list[Section], summary: Table | None, **extra: Any) -> dict[str, Any]:
    return asdict(
        Report(
            mode="full",
            started_at="2026-12-06 20:30 UTC",
            seconds=100.0,
            machine={"load_before": "8.1", "load_after": "7.9"},
            commands=["# a partial run:", ".venv/bin/python -m bench --full --only journeys"],
            background="other processes used 1.02 cores",
            sections=sections,
            summary=summary,
            **extra,
        )
    )


PUBLISHED_SUMMARY = Table(
    "design.md targets, this run beside the baseline run",
    ["target", "baseline", "measured", "met"],
    [["CRM lookup p99 under 2 ms", "0.89 ms", "0.33 ms", "yes"]],
)
ENGINE = Section(key="engine", title="4. The engine alone", intro="", tables=[], data={})


def test_the_section_joins_the_published_ones_in_title_order_and_says_how_it_was_run() -> None:
    partial = report([journeys_section(4.2)], None)
    published = report([ENGINE], PUBLISHED_SUMMARY)
    out = publish(partial, "journeys", published)
    assert [s.key for s in out.sections] == ["engine", "journeys"]
    intro = out.sections[1].intro
    assert "Measured in a run of its own (2026-12-06 20:30 UTC" in intro
    assert "python -m bench --full --only journeys" in intro and "8.1" in intro


def test_its_target_rows_come_without_a_baseline_and_replace_an_earlier_publication() -> None:
    published = report([ENGINE], PUBLISHED_SUMMARY)
    first = publish(report([journeys_section(12.0)], None), "journeys", published)
    again = publish(report([journeys_section(4.2)], None), "journeys", asdict(first))
    assert again.summary is not None
    assert again.summary.rows == [
        ["CRM lookup p99 under 2 ms", "0.89 ms", "0.33 ms", "yes"],
        [
            "Journey report: 1,000,000 journeys summarised in under 10 s, SQLite",
            "-",
            "4.20 s (slowest of the filters)",
            "yes",
        ],
    ]
    assert [s.data["sqlite"]["all"]["max_s"] for s in again.sections if s.key == "journeys"] == [
        4.2
    ]


def test_a_section_the_run_does_not_have_is_an_error() -> None:
    partial = report([journeys_section(4.2)], None)
    with pytest.raises(ValueError, match=r"no section 'flood'.*journeys"):
        publish(partial, "flood", report([ENGINE], PUBLISHED_SUMMARY))


def test_the_earlier_runs_notes_about_the_section_give_way_to_the_new_runs() -> None:
    published = report(
        [ENGINE, journeys_section(9.0)],
        PUBLISHED_SUMMARY,
        errors=["journeys: 3 writes failed", "engine: slow machine"],
    )
    partial = report([journeys_section(4.2)], None, errors=["journeys: 1 write failed"])
    out = publish(partial, "journeys", published)
    assert out.errors == ["engine: slow machine", "journeys: 1 write failed"]
