"""The same IVR on panoramisk's FastAGI server (`panoramisk.fast_agi.Application`):
the transcript's commands sent with `request.send_command`, each answer parsed by
panoramisk, and at each menu the caller's key looked up to choose the next part (a
key the menu does not know sends the caller to the operator queue).

    python -m bench.peers.panoramisk_ivr TRANSCRIPT.json [--loop asyncio|uvloop]

panoramisk routes on the whole `agi_network_script`, query string included, so the
route is registered as `ivr?flow=main` (style.md, section 5).
"""

from __future__ import annotations

from typing import Any

from panoramisk.fast_agi import Application

from bench.agi_transcript import NETWORK_SCRIPT
from bench.peers.common import arguments, load, serve_forever


def main() -> None:
    args = arguments(__doc__ or "")
    steps = load(args).steps
    commands = [step.command for step in steps]
    menus = {i: {step.menu_key: i + 1} for i, step in enumerate(steps) if step.menu_key}
    operator = ['SET VARIABLE "CALLPOP_OUTCOME" "queue"', 'SET VARIABLE "CALLPOP_QUEUE" "operator"']

    async def ivr(request: Any) -> None:
        index = 0
        while index < len(commands):
            result = await request.send_command(commands[index])
            if "error" in result:
                return
            menu = menus.get(index)
            if menu is None:
                index += 1
                continue
            value = result["result"][0]
            # GET DATA answers with the digits, STREAM FILE with the key's ASCII code.
            if not commands[index].startswith("GET DATA"):
                value = chr(int(value)) if value.isdigit() and int(value) > 0 else ""
            nxt = menu.get(value)
            if nxt is None:
                for command in operator:
                    await request.send_command(command)
                return
            index = nxt

    def make_handler() -> Any:
        app = Application()
        app.add_route(NETWORK_SCRIPT, ivr)
        return app.handler

    serve_forever(make_handler, args.loop)


if __name__ == "__main__":
    main()
