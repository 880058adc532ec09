"""The design's targets (design.md, "Performance targets") against this run's numbers,
and, beside them, the same targets as the baseline run measured them (bench/baseline.json:
the published run before the fixes the profiles called for), so the table says what the
changes gained."""

from __future__ import annotations

import json
from typing import Any

from bench.report import Section, Table

__all__ = ["targets"]

REFERENCE_LEVEL = 200  # design.md measured its reference figures at 200 concurrent calls


def _row(target: str, measured: str, met: bool | None) -> list[str]:
    return [target, measured, "-" if met is None else ("yes" if met else "**no**")]


def _fastagi(data: dict[str, Any]) -> list[list[str]]:
    rows = {r["key"]: r for r in data["contenders"]}
    level = (
        REFERENCE_LEVEL
        if any(REFERENCE_LEVEL in r["throughput"] for r in rows.values())
        else min((lv for r in rows.values() for lv in r["throughput"]), default=0)
    )

    def tp(key: str) -> dict[str, Any] | None:
        r = rows.get(key)
        return None if r is None else r["throughput"].get(level)

    out = []
    measured = {k: t for k in ("callpop", "callpop-uvloop") if (t := tp(k))}
    best = min(measured, key=lambda k: measured[k]["cpu_us_per_call"], default=None)
    pano = tp("panoramisk")
    if best and pano:
        cp = tp(best)
        assert cp is not None
        pano_uv = tp("panoramisk-uvloop")
        # The target names panoramisk as users run it (the default loop); its uvloop
        # figure is said beside it, so a reader sees how far the other loop would move it.
        beside = "" if pano_uv is None else f" (on uvloop {pano_uv['cpu_us_per_call']:,.0f} µs)"
        out.append(
            _row(
                f"FastAGI server CPU per call below panoramisk's (C={level})",
                f"{rows[best]['label'].split(' (')[0]} {cp['cpu_us_per_call']:,.0f} µs vs panoramisk "
                f"{pano['cpu_us_per_call']:,.0f} µs{beside}",
                cp["cpu_us_per_call"] < pano["cpu_us_per_call"],
            )
        )
    fastest = max(measured, key=lambda k: measured[k]["calls_per_s"], default=None)
    bare = tp("bare")
    if fastest and bare:
        cp = tp(fastest)
        assert cp is not None
        out.append(
            _row(
                f"FastAGI calls/s at least the bare asyncio server's (uvloop allowed, C={level})",
                f"{cp['calls_per_s']:,.0f} vs {bare['calls_per_s']:,.0f}",
                cp["calls_per_s"] >= bare["calls_per_s"],
            )
        )
    pyst2 = tp("pyst2")
    if fastest and pyst2:
        cp = tp(fastest)
        assert cp is not None
        ratio = cp["calls_per_s"] / pyst2["calls_per_s"] if pyst2["calls_per_s"] else 0
        out.append(
            _row(
                f"50x the calls/s of a process per call (C={level})", f"{ratio:,.0f}x", ratio >= 50
            )
        )
    mems = {k: r["memory"].get("kib_per_call") for k, r in rows.items() if r["memory"]}
    cp_mem = min(
        (v for k, v in mems.items() if k.startswith("callpop") and v is not None), default=None
    )
    pano_mem = mems.get("panoramisk")
    if cp_mem is not None and pano_mem is not None:
        held = max(r["memory"].get("calls", 0) for r in rows.values() if r["memory"])
        out.append(
            _row(
                f"{held:,} calls held at no more memory per call than panoramisk",
                f"{cp_mem:,.1f} KiB vs {pano_mem:,.1f} KiB",
                cp_mem <= pano_mem,
            )
        )
    return out


def _pop(data: dict[str, Any]) -> list[list[str]]:
    top = max(data["rates"], key=lambda r: r["rate"], default=None)
    if top is None or "p99_ms" not in top:
        return []
    return [
        _row(
            f"Screen-pop p99 under 50 ms, {data['agents']} agents, {top['rate']} calls/s",
            f"p99 {top['p99_ms']:.1f} ms, {top['lost']} lost",
            top["p99_ms"] < 50 and not top["lost"],
        )
    ]


def _crm(data: dict[str, Any]) -> list[list[str]]:
    biggest = max(data["sizes"])
    out = []
    for db in ("sqlite", "postgres"):
        if db in data and biggest in data[db]:
            p99 = data[db][biggest]["p99_ms"]
            out.append(
                _row(
                    f"CRM lookup p99 under 2 ms at {biggest:,} customers, "
                    f"{'SQLite' if db == 'sqlite' else 'PostgreSQL'}",
                    f"{p99:.2f} ms",
                    p99 < 2.0,
                )
            )
    return out


def _engine(data: dict[str, Any]) -> list[list[str]]:
    first = data["paths"][0]
    return [
        _row(
            "Engine alone: steps per second (the ceiling for every driver)",
            f"{first['events_per_s']:,.0f} events/s, {first['calls_per_s']:,.0f} calls/s "
            f"on the FastAGI path",
            None,
        )
    ]


def _journeys(data: dict[str, Any]) -> list[list[str]]:
    out = []
    for db, name in (("sqlite", "SQLite"), ("postgres", "PostgreSQL")):
        if db in data:
            worst = max(r["max_s"] for r in data[db].values())
            out.append(
                _row(
                    f"Journey report: {data['size']:,} journeys summarised in under 10 s, {name}",
                    f"{worst:.2f} s (slowest of the filters)",
                    worst < 10,
                )
            )
    return out


def _flood(data: dict[str, Any]) -> list[list[str]]:
    s, flood = data["settings"], data["latency"]["flood"]
    judged, callbacks = data["judged"], data["callbacks"]
    lost = len(callbacks["lost"]) + len(data["journeys_lost"])
    wrongly_kept = len(callbacks["told_no_kept"]) + len(callbacks["withdrawn_placed"])
    return [
        _row(
            f"Flood ({s['factor']}x the rate for {s['flood_s']:g} s, serve killed mid-way): "
            "per-command p99 under 20 ms",
            f"{flood['p99_ms']} ms over {flood['commands']:,} commands",
            flood["p99_ms"] < 20,
        ),
        _row(
            "Flood: every caller gets what the flow says; each callback placed once; nothing lost",
            f"{judged['wrong_count']} decisions unexplained, "
            f"{callbacks['placed_once']}/{callbacks['to_place']} callbacks placed once, "
            f"{lost} lost, {wrongly_kept} placed for callers told no",
            judged["wrong_count"] == 0
            and callbacks["placed_once"] == callbacks["to_place"]
            and lost == 0
            and wrongly_kept == 0,
        ),
    ]


def _hold(data: dict[str, Any]) -> list[list[str]]:
    """Issue 17's scale of one process: p99 under 20 ms, memory per held call within the
    bare server's (uvloop allowed, so its best row)."""
    rows = {r["key"]: r for r in data["rows"]}
    callpop = rows.get("callpop-uvloop") or rows.get("callpop")
    bares = [r for k, r in rows.items() if k.startswith("bare")]
    if callpop is None or not bares:
        return []
    bare = min(bares, key=lambda r: r["kib_per_call"])
    held, rate = callpop["server_connections"], data["settings"]["rate"]
    return [
        _row(
            f"{held:,} calls held, {rate:,.0f} new calls/s: per-command p99 under 20 ms",
            f"{callpop['p99_ms']:,.1f} ms (p50 {callpop['p50_ms']:,.2f} ms); "
            f"{callpop['failed']} of {callpop['calls_placed']:,} calls failed",
            callpop["p99_ms"] < 20,
        ),
        _row(
            f"{held:,} calls held: memory per call within the bare asyncio server's",
            f"{callpop['kib_per_call']:,.2f} KiB vs {bare['kib_per_call']:,.2f} KiB",
            callpop["kib_per_call"] <= bare["kib_per_call"],
        ),
    ]


_MAKERS = {
    "hold": _hold,
    "flood": _flood,
    "fastagi": _fastagi,
    "screenpop": _pop,
    "crm": _crm,
    "engine": _engine,
    "journeys": _journeys,
}


def _rows(key: str, title: str, data: dict[str, Any]) -> list[list[str]]:
    maker = _MAKERS.get(key)
    if maker is None:
        return []
    try:
        return maker(data)
    except (KeyError, ValueError, TypeError) as exc:
        return [_row(title, f"not summarised: {exc!r}", None)]


def _baseline_rows(baseline: dict[str, Any]) -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for section in baseline.get("sections", []):
        # JSON turned the integer keys (concurrency levels) into strings.
        data = json.loads(json.dumps(section["data"]), object_hook=_int_keys)
        for row in _rows(section["key"], section["title"], data):
            rows[row[0]] = row
    return rows


def _int_keys(obj: dict[str, Any]) -> dict[Any, Any]:
    return {int(k) if k.isdigit() else k: v for k, v in obj.items()}


def targets(sections: list[Section], baseline: dict[str, Any] | None = None) -> Table:
    rows: list[list[str]] = []
    for section in sections:
        rows += _rows(section.key, section.title, section.data)
    if baseline is None:
        return Table("design.md targets, this run", ["target", "measured", "met"], rows)
    before = _baseline_rows(baseline)
    label = f"baseline ({baseline.get('started_at', '?')}, {baseline.get('commit', '?')})"
    return Table(
        "design.md targets, this run beside the baseline run",
        ["target", label, "measured", "met"],
        [[r[0], before[r[0]][1] if r[0] in before else "-", r[1], r[2]] for r in rows],
    )
