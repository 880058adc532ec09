"""Run callpop's command line under pyinstrument and write the profile when it exits.

    python -m bench.profiled OUT_STEM -- --config callpop.yaml serve

writes OUT_STEM.txt (the call tree as text), OUT_STEM.html, OUT_STEM.summary.txt (self
time by package, bench.profile_summary) and the session (OUT_STEM.pyisession). `serve` exits cleanly on
SIGTERM, which is how the benchmark ends it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pyinstrument import Profiler

from bench.profile_summary import render


def main() -> None:
    if len(sys.argv) < 3 or sys.argv[2] != "--":
        sys.exit(__doc__)
    stem = Path(sys.argv[1])
    sys.argv = ["callpop", *sys.argv[3:]]
    from callpop.cli import main as cli_main

    profiler = Profiler(interval=0.0005)
    profiler.start()
    try:
        cli_main()
    except SystemExit:
        pass
    finally:
        profiler.stop()
        stem.parent.mkdir(parents=True, exist_ok=True)
        Path(f"{stem}.txt").write_text(
            profiler.output_text(unicode=True, color=False, show_all=False), encoding="utf-8"
        )
        Path(f"{stem}.html").write_text(profiler.output_html(), encoding="utf-8")
        session = profiler.last_session
        if session is not None:
            session.save(f"{stem}.pyisession")
            Path(f"{stem}.summary.txt").write_text(render(session) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
