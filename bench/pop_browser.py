"""The screen-pop benchmark's browser sample: one agent in a real Chromium, timed from
`AgentCalled` to the pop painted on the agent page.

The page is the real `/agent` panel. A script added before the page's own records, on
the page's wall clock (`performance.timeOrigin + performance.now()`), when the socket
delivered each `pop.offered` and the first animation frame after the pop's tab
appeared in the DOM (the frame that paints it); the simulator's side is read on the
same wall clock (`time.time()`), both on this machine.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from bench.stats import summary_ms
from screenpop.guards import SESSION_COOKIE

if TYPE_CHECKING:
    from bench.pop import Caller
    from bench.pop_desk import Desk

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "browser_sample"]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

_PROBE = """
(() => {
  const wall = () => performance.timeOrigin + performance.now();
  window.__socketAt = {};
  window.__paintedAt = {};
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        if (typeof event.data !== "string" || !event.data.includes('"pop.offered"')) return;
        const id = JSON.parse(event.data).pop.call_id;
        if (!(id in window.__socketAt)) window.__socketAt[id] = wall();
      });
    }
  };
  const seen = new Set();
  new MutationObserver(() => {
    for (const tab of document.querySelectorAll(".pop-tab[data-call-id]")) {
      const id = tab.dataset.callId;
      if (seen.has(id)) continue;
      seen.add(id);
      requestAnimationFrame(() => { window.__paintedAt[id] = wall(); });
    }
  }).observe(document, {subtree: true, childList: true});
})();
"""


async def browser_sample(
    desk: Desk, caller: Caller, *, pops: int, background_rate: int, agents: int
) -> dict[str, Any]:
    """`pops` calls rung to the browser's agent, one at a time, while `background_rate`
    calls a second ring the other agents."""
    if pops <= 0:
        return {"error": "not run (no browser pops asked for)"}
    try:
        from playwright.async_api import async_playwright
    except ImportError as exc:
        return {"error": f"playwright is not installed: {exc}"}
    account_index = agents  # the one account no socket of the load uses
    account = desk.accounts[account_index]
    async with async_playwright() as playwright:
        try:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Exception as exc:
            return {"error": f"Chromium at {CHROMIUM} did not start: {exc}"}
        try:
            context = await browser.new_context(viewport={"width": 1366, "height": 768})
            await context.add_cookies(
                [{"name": SESSION_COOKIE, "value": desk.cookie(account), "url": desk.base_url}]
            )
            await context.add_init_script(_PROBE)
            page = await context.new_page()
            await page.goto(desk.base_url + "/agent")
            await page.wait_for_selector("#conn-status.conn-up", timeout=15_000)
            background = asyncio.create_task(caller.steady(background_rate, pops * 0.6 + 2, agents))
            painted: list[float] = []
            socket: list[float] = []
            try:
                await asyncio.sleep(1.0)  # the background load is under way
                for _ in range(pops):
                    call = caller.start_call(account_index, answer=False)
                    await page.wait_for_function(
                        "id => window.__paintedAt[id] !== undefined",
                        arg=call.call_id,
                        timeout=10_000,
                    )
                    marks = await page.evaluate(
                        "id => [window.__socketAt[id], window.__paintedAt[id]]", call.call_id
                    )
                    rung = caller.rung_wall[call.call_id]
                    socket.append(marks[0] / 1000 - rung)
                    painted.append(marks[1] / 1000 - rung)
                    desk.ami.emit(call.ring_no_answer())  # the pop is withdrawn
                    desk.ami.emit(call.abandoned(1, caller_hung_up=True))
                    await asyncio.sleep(0.3)
            finally:
                await background
            await context.close()
        finally:
            await browser.close()
    result: dict[str, Any] = dict(summary_ms(painted))
    result.update(
        background_rate=background_rate,
        socket_p50_ms=summary_ms(socket)["p50_ms"],
        socket=summary_ms(socket),
        measured_at=time.strftime("%H:%M:%S"),
    )
    return result
