"""Add one benchmark measured in a partial run to the published figures.

    python -m bench --full --only flood            # writes bench/out/full.json
    python -m bench.publish bench/out/full.json flood

A partial run never replaces docs/benchmarks.{md,json} (`python -m bench`); this puts the
named section of such a run into them, replacing a section of the same key, and its rows
into the targets table (no baseline figure: "-"), with bench/findings.md as it is now.
The section's intro then says when and
how it was measured and the load on the machine then, since it did not run beside the
other sections; the markdown is rendered again from the JSON, as `python -m bench` does.
The next `make bench` measures every section in one run again.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.report import Report, Section, Table, write
from bench.summary import targets

__all__ = ["publish"]

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FINDINGS = ROOT / "bench" / "findings.md"


def _table(data: dict[str, Any]) -> Table:
    return Table(data["title"], data["columns"], data["rows"], data.get("notes", []))


def _section(data: dict[str, Any]) -> Section:
    return Section(
        key=data["key"],
        title=data["title"],
        intro=data["intro"],
        tables=[_table(t) for t in data["tables"]],
        data=data["data"],
        notes=data.get("notes", []),
    )


def _report(data: dict[str, Any]) -> Report:
    summary = data.get("summary")
    return Report(
        mode=data["mode"],
        started_at=data["started_at"],
        seconds=data["seconds"],
        machine=data["machine"],
        commands=data["commands"],
        background=data["background"],
        sections=[_section(s) for s in data["sections"]],
        summary=None if summary is None else _table(summary),
        findings=data.get("findings", ""),
        errors=data.get("errors", []),
    )


def publish(partial: dict[str, Any], key: str, published: dict[str, Any]) -> Report:
    """`published` with the section `key` of `partial` in it."""
    source = _report(partial)
    found = [s for s in source.sections if s.key == key]
    if not found:
        raise ValueError(
            f"no section {key!r} in that run (it has {[s.key for s in source.sections]})"
        )
    section = found[0]
    machine = source.machine
    section.intro += (
        f"\n\nMeasured in a run of its own ({source.started_at}, "
        f"`{source.commands[-1].removeprefix('.venv/bin/')}`, load average "
        f"{machine.get('load_before', '?')} when it started, {machine.get('load_after', '?')} "
        f"when it ended; {source.background or 'nothing else measured'})."
    )
    report = _report(published)
    if FINDINGS.exists():  # as `python -m bench` does: the findings as they are now
        report.findings = FINDINGS.read_text(encoding="utf-8")
    report.sections = sorted(
        [s for s in report.sections if s.key != key] + [section], key=lambda s: s.title
    )
    # The run's notes about this section ("hold: ... failed") are the new run's now.
    mine = f"{key}: "
    report.errors = [e for e in report.errors if not e.startswith(mine)] + [
        e for e in source.errors if e.startswith(mine)
    ]
    own = targets([section])
    if report.summary is not None:
        width = len(report.summary.columns)
        kept = [r for r in report.summary.rows if r[0] not in {o[0] for o in own.rows}]
        added = [[r[0], *(["-"] * (width - 3)), r[1], r[2]] for r in own.rows]
        report.summary.rows = kept + added
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.publish", description=__doc__)
    parser.add_argument("run", type=Path, help="the JSON a partial run wrote")
    parser.add_argument("key", help="the section to publish (e.g. flood)")
    args = parser.parse_args(argv)
    md, js = DOCS / "benchmarks.md", DOCS / "benchmarks.json"
    try:
        report = publish(
            json.loads(args.run.read_text(encoding="utf-8")),
            args.key,
            json.loads(js.read_text(encoding="utf-8")),
        )
    except (OSError, ValueError, KeyError) as exc:
        print(f"python -m bench.publish: {exc}", file=sys.stderr)
        return 1
    write(report, md, js)
    print(f"bench.publish: section {args.key} of {args.run} in {md} and {js}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
