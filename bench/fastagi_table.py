"""The FastAGI benchmark's tables, from the numbers `bench.fastagi` measured."""

from __future__ import annotations

from typing import Any

from bench.report import Table

__all__ = ["tables"]

LIMIT = "bare"


def _ratio(value: float | None, base: float | None) -> str:
    if not value or not base:
        return "-"
    return f"{value / base:.2f}x"


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def tables(data: dict[str, Any]) -> list[Table]:
    rows = data["contenders"]
    limit = next((r for r in rows if r["key"] == LIMIT), None)
    out = []
    levels = sorted({int(k) for r in rows for k in r["throughput"]})
    for level in levels:
        base = limit["throughput"].get(level) if limit else None
        body = []
        for r in rows:
            t = r["throughput"].get(level)
            if t is None:
                continue
            body.append(
                [
                    r["label"],
                    f"{t['calls']:,}",
                    _num(t["calls_per_s"], ",.0f"),
                    _ratio(t["calls_per_s"], base and base["calls_per_s"]),
                    _num(t["cpu_us_per_call"], ",.0f"),
                    _ratio(t["cpu_us_per_call"], base and base["cpu_us_per_call"]),
                ]
            )
        out.append(
            Table(
                f"Throughput and server CPU, {level:,} calls in flight, Asterisk answering at once",
                ["server", "calls", "calls/s", "vs (c)", "server CPU µs/call", "vs (c)"],
                body,
            )
        )
    lat_levels = sorted({int(k) for r in rows for k in r["latency"]})
    body = []
    for r in rows:
        cells = [r["label"]]
        for level in lat_levels:
            lat = r["latency"].get(level) or r["latency"].get(str(level))
            cells.append(
                "-"
                if not lat or "p50_ms" not in lat
                else f"{lat['p50_ms']:.2f} / {lat['p99_ms']:.2f}"
            )
        mem = r["memory"]
        base_mem = limit["memory"].get("kib_per_call") if limit else None
        cells.append("-" if not mem else f"{mem['kib_per_call']:,.1f}")
        cells.append(_ratio(mem.get("kib_per_call") if mem else None, base_mem))
        body.append(cells)
    max_level = max(lat_levels) if lat_levels else 0

    def heading(level: int) -> str:
        ramps = {
            lat.get("ramp_s") for r in rows for k, lat in r["latency"].items() if int(k) == level
        }
        ramp = ramps.pop() if len(ramps) == 1 else None
        return f"C={level:,}" + ("" if ramp is None else f" over {ramp:g} s")

    out.append(
        Table(
            f"Per-command latency as Asterisk sees it (p50 / p99 ms), C calls arriving over a "
            f"few seconds at a real channel's pace; memory with {max_level:,} calls held open",
            ["server", *[heading(level) for level in lat_levels], "KiB per call", "vs (c)"],
            body,
            [
                "Latency: from Asterisk writing an answer to having the server's next command. "
                "Memory: resident set at the plateau minus before, per call held; for a process "
                "per call, the proportional set size of one live script process (capped at "
                f"{min(200, max_level)} concurrent calls)."
            ],
        )
    )
    return out
