"""`callpop serve` on asyncio's default event loop.

The `serve` command runs on uvloop whenever it is installed; the benchmark also wants
callpop's row on the default loop, beside the bare asyncio server's. This runs the very
same click command, with the one function that picks the loop replaced by
`asyncio.run`; everything else (config, logging, dialplan check, migrations, CRM,
journeys, metrics, FastAGI) is the command's own.

    python -m bench.peers.callpop_serve --config callpop.yaml serve
"""

from __future__ import annotations

import asyncio
from typing import Any

from callpop.cli import cli
from callpop.commands import serve


def _default_loop(main: Any) -> None:
    asyncio.run(main)


def main() -> None:
    serve.run_loop = _default_loop
    cli(prog_name="callpop")


if __name__ == "__main__":
    main()
