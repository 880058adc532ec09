"""One open panel socket: its outbox, writer and heartbeat.

The hub never awaits a socket: it puts frames in the panel's bounded outbox, and the
panel's writer task sends them. A socket that falls `OUTBOX_FRAMES` behind is closed
(the page reconnects and resyncs) rather than holding frames for ever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import WSCloseCode, web

from screenpop.auth import EmbedClaims, SessionClaims
from screenpop.protocol import Dead, PanelProtocol, SendPing
from screenpop.store import Account

__all__ = ["LOGGED_OUT", "OUTBOX_FRAMES", "EmbedMinter", "Panel"]

log = logging.getLogger(__name__)

OUTBOX_FRAMES = 512  # frames queued for one socket before it is deemed stuck
# The close code of a socket whose session ended (logout): in the range RFC 6455
# leaves to applications; the page does not get its socket back with that session.
LOGGED_OUT = 4401
EmbedMinter = Callable[[Account, str, "SessionClaims | EmbedClaims"], str]


@dataclass(eq=False, slots=True)
class Panel:
    """An agent's tab, a widget on a CRM page, or a supervisor's wallboard."""

    ws: web.WebSocketResponse
    account: Account
    protocol: PanelProtocol
    # the cookie's session, or for a widget the embed token's: the socket lives no
    # longer than that session
    session: SessionClaims | EmbedClaims
    embed_origin: str | None = None
    view: Literal["panel", "wallboard"] = "panel"
    outbox: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(OUTBOX_FRAMES))
    stuck: bool = False
    ended: bool = False
    controls_in_flight: int = 0  # `control` messages not answered yet

    @property
    def session_nonce(self) -> str:
        session = self.session
        return session.nonce if isinstance(session, SessionClaims) else session.session

    def end(self) -> None:
        """The session was logged out: close the socket, send nothing more."""
        if self.ended:
            return
        self.ended = True
        if self.outbox.full():
            self.outbox.get_nowait()
        self.outbox.put_nowait(None)

    def send(self, frame: str) -> None:
        """Queue a frame; never waits."""
        if self.stuck or self.ended:
            return
        try:
            self.outbox.put_nowait(frame)
        except asyncio.QueueFull:
            self.stuck = True
            self.outbox.get_nowait()
            self.outbox.put_nowait(None)  # tells the writer to close the socket

    async def write(self) -> None:
        """Send queued frames until the socket goes or the panel is stuck."""
        while True:
            frame = await self.outbox.get()
            if frame is None and self.ended:
                await self.ws.close(code=LOGGED_OUT, message=b"logged out")
                return
            if frame is None:
                log.warning(
                    "panel of %s fell %d frames behind: closing it",
                    self.account.name,
                    OUTBOX_FRAMES,
                )
                await self.ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too slow")
                return
            try:
                await self.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                return  # the socket went away; the reader's loop ends on its own

    async def heartbeat(
        self, monotonic: Callable[[], float], embed_token: EmbedMinter | None
    ) -> None:
        """Ping the page every heartbeat; close a page that went silent. Widget
        sockets also get a fresh embed token, so they can reconnect while the agent's
        session lasts (the token is of that session and ends with it)."""
        while True:
            await asyncio.sleep(self.protocol.heartbeat_s / 2)
            verdict = self.protocol.tick(now=monotonic())
            if isinstance(verdict, SendPing):
                self.send(verdict.frame)
                if (
                    self.embed_origin is not None
                    and embed_token is not None
                    and self.protocol.hello is not None
                    and not self.ended
                ):
                    self.send(
                        self.protocol.token(
                            embed_token(self.account, self.embed_origin, self.session)
                        )
                    )
            elif isinstance(verdict, Dead):
                log.info(
                    "panel of %s silent for %.0f s: closing", self.account.name, verdict.silent_s
                )
                await self.ws.close(code=WSCloseCode.GOING_AWAY, message=b"no heartbeat")
                return
