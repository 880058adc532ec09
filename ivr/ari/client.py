"""A thin typed ARI REST client on aiohttp: exactly what callpop needs, checked against
Asterisk 22's Swagger description (`channels.json`, `playbacks.json`) and the recorded
exchanges in `tests/fixtures/asterisk/ari/`.

ari-py, the usual choice, is Python-2 only. This client owns the one `ClientSession`
of the ARI driver (REST and the events websocket share it), sends HTTP basic auth,
and puts an explicit `ClientTimeout` on every request: aiohttp's default is 300 s,
far longer than a caller waits in silence.

Every value that goes into a URL is percent-encoded here, path segments and query
values alike: a channel id, a variable value, a caller-controlled string can never
add a path segment or a query parameter.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aiohttp
import yarl

from ivr.ari.errors import AriTimeout, AriUnavailable, error_for_status
from ivr.ari.models import AriProtocolError, ChannelSnapshot, PlaybackSnapshot

__all__ = ["AriClient", "ClientSettings", "basic_auth", "events_url", "media_list", "request_url"]

# One media URI of a playlist: `sound:`, `digits:`, `number:` ... with no comma, since
# the `media` parameter allows several values, comma-separated (`allowMultiple`), and
# Asterisk splits on commas after percent-decoding: a comma cannot be escaped.
_MEDIA = re.compile(r"^[a-z]+:[A-Za-z0-9_\-./+:]+$")


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """Timeouts and limits. A REST call to a local Asterisk takes milliseconds; a call
    that takes seconds means Asterisk is stuck, and the caller should not wait on it.
    `max_connections` stays under Asterisk's own `http.conf` `sessionlimit` (100)."""

    total_timeout_s: float = 5.0
    connect_timeout_s: float = 2.0
    max_connections: int = 50

    def timeout(self) -> aiohttp.ClientTimeout:
        # `connect` would also bound the wait for a pooled connection, which under a
        # burst of calls is queueing, not a dead Asterisk: only the TCP connect and the
        # whole request have deadlines.
        return aiohttp.ClientTimeout(
            total=self.total_timeout_s,
            sock_connect=self.connect_timeout_s,
            sock_read=self.total_timeout_s,
        )


def media_list(uris: Sequence[str]) -> str:
    """The `media` query value for a playlist; refuses a URI ARI cannot express."""
    if not uris:
        raise ValueError("a playback needs at least one media URI")
    for uri in uris:
        if not _MEDIA.match(uri):
            raise ValueError(f"not a playable ARI media URI: {uri!r}")
    return ",".join(uris)


def request_url(
    base_url: str, segments: Sequence[str], query: Sequence[tuple[str, str]] = ()
) -> yarl.URL:
    """A request URL below `base_url`; every segment and value percent-encoded, `/`
    included. An empty, `.` or `..` segment is refused: URL normalisation would move it."""
    for segment in segments:
        if segment in ("", ".", ".."):
            raise ValueError(f"not a usable ARI path segment: {segment!r}")
    path = "/".join(quote(segment, safe="") for segment in segments)
    target = f"{base_url.rstrip('/')}/{path}"
    if query:
        target += "?" + "&".join(
            f"{quote(name, safe='')}={quote(value, safe=',' if name == 'media' else '')}"
            for name, value in query
        )
    return yarl.URL(target, encoded=True)


def basic_auth(username: str, password: str) -> str:
    """The `Authorization` value for HTTP basic auth (RFC 7617), as Asterisk reads it."""
    if ":" in username:
        raise ValueError("an ARI username cannot contain ':' (RFC 7617)")
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def events_url(base_url: str, app: str) -> yarl.URL:
    """`ws://HOST/ari/events?app=APP` from the REST base URL `http://HOST/ari`."""
    parts = urlsplit(base_url.rstrip("/"))
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    target = urlunsplit((scheme, parts.netloc, parts.path + "/events", "", ""))
    return yarl.URL(f"{target}?app={quote(app, safe='')}", encoded=True)


class AriClient:
    """ARI REST for one Asterisk. Use `async with AriClient(...)`, or `close()` it.

    Errors are typed (`ivr.ari.errors`): `AriNotFound` for a channel that has gone,
    `AriConflict` for one that left Stasis, `AriUnavailable` when Asterisk is down.
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        settings: ClientSettings | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"ARI url must be http(s)://HOST:PORT/ari, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.settings = settings or ClientSettings()
        self.http = aiohttp.ClientSession(
            headers={"Authorization": basic_auth(username, password)},
            timeout=self.settings.timeout(),
            connector=aiohttp.TCPConnector(limit=self.settings.max_connections),
        )

    async def __aenter__(self) -> AriClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.close()

    # --- plumbing ---------------------------------------------------------------------

    def url(self, segments: Sequence[str], query: Sequence[tuple[str, str]] = ()) -> yarl.URL:
        return request_url(self.base_url, segments, query)

    async def request(
        self, method: str, segments: Sequence[str], query: Sequence[tuple[str, str]] = ()
    ) -> Any:
        """Send one request; the decoded JSON body, None for an empty one (204)."""
        # Errors name the path only: query values may be caller-controlled text.
        shown = "/" + "/".join(quote(segment, safe="") for segment in segments)
        try:
            async with self.http.request(method, self.url(segments, query)) as response:
                body = (await response.read()).decode("utf-8", errors="replace")
                if response.status >= 400:
                    raise error_for_status(
                        method, shown, response.status, response.reason or "", body
                    )
        except TimeoutError:
            raise AriTimeout(
                f"{method} {shown}: no answer within {self.settings.total_timeout_s} s"
            ) from None
        except aiohttp.ClientError as exc:
            raise AriUnavailable(f"{method} {shown}: {exc}") from exc
        if not body:
            return None
        try:
            return json.loads(body)
        except ValueError:
            raise AriProtocolError(f"{method} {shown}: the answer is not JSON") from None

    # --- the operations callpop uses ----------------------------------------------------

    async def asterisk_info(self) -> dict[str, Any]:
        """`GET /asterisk/info`: a cheap check that the URL and credentials are right."""
        info = await self.request("GET", ("asterisk", "info"))
        if not isinstance(info, dict):
            raise AriProtocolError("GET /asterisk/info: expected an object")
        return info

    async def list_channels(self) -> list[ChannelSnapshot]:
        """`GET /channels`: every channel of the server, in Stasis or not."""
        listed = await self.request("GET", ("channels",))
        if not isinstance(listed, list):
            raise AriProtocolError("GET /channels: expected a list")
        return [ChannelSnapshot.from_json(item, f"channels[{i}]") for i, item in enumerate(listed)]

    async def get_channel(self, channel_id: str) -> ChannelSnapshot:
        return ChannelSnapshot.from_json(await self.request("GET", ("channels", channel_id)))

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", ("channels", channel_id, "answer"))

    async def hangup(self, channel_id: str, *, reason_code: int = 16) -> None:
        """`DELETE /channels/{id}?reason_code=16`: 16 is Normal Clearing."""
        await self.request("DELETE", ("channels", channel_id), [("reason_code", str(reason_code))])

    async def play(
        self,
        channel_id: str,
        media: Sequence[str],
        *,
        playback_id: str | None = None,
        lang: str | None = None,
    ) -> PlaybackSnapshot:
        """`POST /channels/{id}/play`. Choosing `playback_id` up front lets the caller of
        this method match a `PlaybackFinished` that overtakes the 201 on the websocket."""
        query = [("media", media_list(media))]
        if lang:
            query.append(("lang", lang))
        if playback_id is not None:
            query.append(("playbackId", playback_id))
        body = await self.request("POST", ("channels", channel_id, "play"), query)
        return PlaybackSnapshot.from_json(body)

    async def get_playback(self, playback_id: str) -> PlaybackSnapshot:
        return PlaybackSnapshot.from_json(await self.request("GET", ("playbacks", playback_id)))

    async def stop_playback(self, playback_id: str) -> None:
        """`DELETE /playbacks/{id}`: a `PlaybackFinished` (`done`) follows on the websocket."""
        await self.request("DELETE", ("playbacks", playback_id))

    async def get_variable(self, channel_id: str, name: str) -> str:
        body = await self.request("GET", ("channels", channel_id, "variable"), [("variable", name)])
        if not isinstance(body, dict) or not isinstance(body.get("value"), str):
            raise AriProtocolError('GET /channels/{id}/variable: expected {"value": "..."}')
        return str(body["value"])

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        await self.request(
            "POST", ("channels", channel_id, "variable"), [("variable", name), ("value", value)]
        )

    async def continue_in_dialplan(
        self, channel_id: str, context: str, extension: str, priority: int = 1
    ) -> None:
        """`POST /channels/{id}/continue`: the channel leaves Stasis (StasisEnd follows)."""
        await self.request(
            "POST",
            ("channels", channel_id, "continue"),
            [("context", context), ("extension", extension), ("priority", str(priority))],
        )
