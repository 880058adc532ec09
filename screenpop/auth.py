"""Who is asking: passwords, session cookies, CSRF tokens, embed tokens, login throttling.

No I/O here: the app (`screenpop.app`) reads cookies and forms and calls these, and
keeps revocations in the database (`ScreenpopStore.revoke_session`).

- Passwords are argon2id hashes (argon2-cffi's defaults follow RFC 9106's second
  recommended option); an unknown user costs the same verification as a known one, so
  response time does not tell which names exist.
- The session cookie is a signed token, not a server-side record: it names the agent,
  expires after a shift, and its MAC covers a fingerprint of the agent's password hash,
  so changing a password ends every session of that agent (Django does the same).
  Logout revokes the token's nonce in the database until it would have expired anyway:
  every instance sharing the database refuses it, and so does this one after a restart.
  Roles are never taken from the cookie: the account is read again on every request.
- CSRF tokens are derived from the session's nonce (a synchronizer token that needs no
  storage); every POST must carry it in a form field or the `X-CSRF-Token` header.
- An embed token lets the widget on a CRM page (another origin, where SameSite=Lax
  cookies are not sent) open the agent's socket: bound to that origin and to the
  session that asked for it (its nonce: revoked with it; never valid past its end),
  short-lived, and good for opening one socket (its id is stored when used).
- Login attempts are counted before the password is verified (`LoginLimiter.attempt`,
  no await between the check and the count): per (address, user), per user and per
  address; `LoginGate` bounds how many argon2 verifications run and wait at once, so
  a flood can neither take the memory (64 MiB a verification) nor the CPU.
- `client_address` believes a forwarded-for header only from the proxies a site
  names, so behind a local proxy the limits count real addresses.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from screenpop.store import Account

__all__ = [
    "Attempt",
    "EmbedClaims",
    "LoginBusy",
    "LoginGate",
    "LoginLimiter",
    "Passwords",
    "SessionClaims",
    "Sessions",
    "TrustedProxies",
    "client_address",
    "password_fingerprint",
]

SESSION_TTL_S = 12 * 3600  # one long shift
EMBED_TTL_S = 120


class Passwords:
    """argon2id hashing; `verify` never raises for a wrong password or a bad hash."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        if not password:
            raise ValueError("a password cannot be empty")
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True if `password` matches; with no hash (unknown user) it still spends the
        time of one verification and returns False."""
        try:
            return self._hasher.verify(password_hash or self._dummy, password) and bool(
                password_hash
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True


def password_fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class SessionClaims:
    agent_id: str
    nonce: str
    issued: int
    expires: int
    fingerprint: str


@dataclass(frozen=True, slots=True)
class EmbedClaims:
    agent_id: str
    origin: str
    expires: int
    fingerprint: str
    session: str  # the nonce of the session that asked for it: revoked with it
    session_expires: int  # no token minted from this one lives longer
    token_id: str  # each token opens one socket (ScreenpopStore.use_embed_token)


class Sessions:
    """Signs and reads session cookies, CSRF tokens and embed tokens with one key.

    Each kind of token is signed under its own label, so no token of one kind is ever
    accepted as another. `clock` gives Unix seconds.
    """

    def __init__(
        self,
        key: bytes,
        *,
        clock: Callable[[], float],
        ttl_s: int = SESSION_TTL_S,
        embed_ttl_s: int = EMBED_TTL_S,
    ) -> None:
        if len(key) < 32:
            raise ValueError("the session key needs at least 32 bytes")
        self._key = key
        self._clock = clock
        self.ttl_s = ttl_s
        self.embed_ttl_s = embed_ttl_s

    # --- signing ----------------------------------------------------------------------

    def _mac(self, label: str, body: str) -> str:
        return _b64(hmac.new(self._key, f"{label}\x00{body}".encode(), hashlib.sha256).digest())

    def _sign(self, label: str, payload: dict[str, Any]) -> str:
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        return f"{body}.{self._mac(label, body)}"

    def _open(self, label: str, token: str | None) -> dict[str, Any] | None:
        if not token or len(token) > 1024 or token.count(".") != 1:
            return None
        body, mac = token.split(".")
        if not hmac.compare_digest(mac, self._mac(label, body)):
            return None
        try:
            payload = json.loads(_unb64(body))
        except ValueError:
            return None
        return payload if isinstance(payload, dict) else None

    def _now(self) -> int:
        return int(self._clock())

    # --- sessions ---------------------------------------------------------------------

    def issue(self, account: Account) -> tuple[str, SessionClaims]:
        now = self._now()
        claims = SessionClaims(
            account.id,
            secrets.token_urlsafe(16),
            now,
            now + self.ttl_s,
            password_fingerprint(account.password_hash),
        )
        token = self._sign(
            "session",
            {
                "a": claims.agent_id,
                "n": claims.nonce,
                "i": claims.issued,
                "e": claims.expires,
                "f": claims.fingerprint,
            },
        )
        return token, claims

    def read(self, token: str | None) -> SessionClaims | None:
        """The claims of a valid, unexpired cookie; None otherwise. Whether it was
        revoked is the store's to say (`ScreenpopStore.session_revoked`)."""
        payload = self._open("session", token)
        if payload is None:
            return None
        try:
            claims = SessionClaims(
                str(payload["a"]),
                str(payload["n"]),
                int(payload["i"]),
                int(payload["e"]),
                str(payload["f"]),
            )
        except (KeyError, TypeError, ValueError):
            return None
        if claims.expires <= self._now():
            return None
        return claims

    @staticmethod
    def belongs_to(claims: SessionClaims | EmbedClaims, account: Account | None) -> bool:
        """The token is still good for this account (active, same password)."""
        return (
            account is not None
            and account.active
            and account.id == claims.agent_id
            and hmac.compare_digest(claims.fingerprint, password_fingerprint(account.password_hash))
        )

    # --- CSRF -------------------------------------------------------------------------

    def csrf_token(self, claims: SessionClaims) -> str:
        return self._mac("csrf", claims.nonce)

    def check_csrf(self, claims: SessionClaims, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.csrf_token(claims))

    # --- embed tokens -----------------------------------------------------------------

    def embed_token(
        self, account: Account, origin: str, session: SessionClaims | EmbedClaims
    ) -> str:
        """A token for the widget on `origin`, bound to the session that asked (a
        cookie's claims, or the embed claims of the socket it is renewed over): it
        carries that session's nonce and never outlives it."""
        if isinstance(session, SessionClaims):
            nonce, session_expires = session.nonce, session.expires
        else:
            nonce, session_expires = session.session, session.session_expires
        expires = min(self._now() + self.embed_ttl_s, session_expires)
        return self._sign(
            "embed",
            {
                "a": account.id,
                "o": origin,
                "e": expires,
                "f": password_fingerprint(account.password_hash),
                "s": nonce,
                "x": session_expires,
                "j": secrets.token_urlsafe(12),
            },
        )

    def read_embed(self, token: str | None, origin: str) -> EmbedClaims | None:
        """The claims of a valid, unexpired token for `origin`; whether its session
        was revoked is the store's to say."""
        payload = self._open("embed", token)
        if payload is None:
            return None
        try:
            claims = EmbedClaims(
                str(payload["a"]),
                str(payload["o"]),
                int(payload["e"]),
                str(payload["f"]),
                str(payload["s"]),
                int(payload["x"]),
                str(payload["j"]),
            )
        except (KeyError, TypeError, ValueError):
            return None
        if claims.expires <= self._now() or not hmac.compare_digest(claims.origin, origin):
            return None
        return claims


@dataclass(frozen=True, slots=True)
class Attempt:
    """`LoginLimiter.attempt`'s verdict: `wait` 0 means go ahead (the attempt is
    counted); `first_refusal` is True for the first refusal of a name or address since
    it was last let through, so a flood is logged once, not per guess."""

    wait: float
    first_refusal: bool = False


class LoginLimiter:
    """Login attempts allowed per `window_s`, counted *before* the password is
    verified: `per_pair` per (address, user name), `per_user` per user name from any
    address, `per_address` per address whatever the name.

    `attempt` checks and counts in one synchronous step, so concurrent requests cannot
    all pass the check before any of them is counted (60 simultaneous guesses get
    `per_pair` verifications, not 60). A success takes its own attempt back and clears
    the user's failures. Someone who does not know the password can lock out the one
    name they guess (`per_user`, higher than `per_pair` so a user's own typos are not
    enough), never every agent: other names and other addresses are counted apart.

    Memory is bounded: at most `max_keys` keys are tracked, the least recently
    attempted forgotten first.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        per_pair: int = 5,
        per_user: int = 20,
        per_address: int = 20,
        window_s: float = 300.0,
        max_keys: int = 10_000,
    ) -> None:
        self._clock = clock
        self._limits = (per_pair, per_user, per_address)
        self._window = window_s
        self._max_keys = max_keys
        self._attempts: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()
        self._refusing: set[tuple[str, str]] = set()  # keys whose refusal was reported

    def _keys(self, address: str, user: str) -> tuple[tuple[str, str], ...]:
        name = user.casefold()
        return (address, name), ("", name), (address, "")

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._attempts.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self._window:
            times.popleft()
        return times

    def attempt(self, address: str, user: str) -> Attempt:
        """Go ahead (wait 0, the attempt counted), or the seconds until one is allowed
        (nothing counted). Synchronous on purpose: no request can slip in between."""
        now = self._clock()
        keys = self._keys(address, user)
        wait = 0.0
        blocked: list[tuple[str, str]] = []
        for key, limit in zip(keys, self._limits, strict=True):
            times = self._recent(key, now)
            if len(times) >= limit:
                wait = max(wait, times[len(times) - limit] + self._window - now)
                blocked.append(key)
        if wait > 0:
            first = not self._refusing.issuperset(blocked)
            if len(self._refusing) >= self._max_keys:
                self._refusing.clear()
            self._refusing.update(blocked)
            return Attempt(wait, first)
        self._refusing.difference_update(keys)
        for key, limit in zip(keys, self._limits, strict=True):
            # only the last `limit` attempts decide the wait: keep no more than that
            self._attempts.setdefault(key, deque(maxlen=limit)).append(now)
            self._attempts.move_to_end(key)
        while len(self._attempts) > self._max_keys:
            self._attempts.popitem(last=False)
        return Attempt(0.0)

    def succeeded(self, address: str, user: str) -> None:
        """The password was right: the user's attempts are forgotten, and the
        address's count gives this one back."""
        pair, name, by_address = self._keys(address, user)
        self._attempts.pop(pair, None)
        self._attempts.pop(name, None)
        times = self._attempts.get(by_address)
        if times:
            times.pop()


class LoginBusy(Exception):
    """More logins are waiting for a password check than the gate lets queue.
    `first`: the first refusal since the gate last let one through."""

    def __init__(self, first: bool) -> None:
        super().__init__("too many logins at once")
        self.first = first


class LoginGate:
    """At most `concurrent` password verifications at once and `waiting` queued
    behind them; one more is refused at once (`LoginBusy`) instead of queued. Each
    argon2id verification takes 64 MiB and tens of milliseconds of CPU: unbounded,
    forty at once took the process from 112 to 437 MB and slowed every call."""

    def __init__(self, *, concurrent: int = 2, waiting: int = 32) -> None:
        self._slots = asyncio.Semaphore(concurrent)
        self._waiting = waiting
        self._queued = 0
        self.capacity = concurrent + waiting
        self._refused = 0  # since the gate last let one through

    def recovered(self) -> int:
        """How many were refused before the login just let through (0: none); read
        once, so the recovery is logged once."""
        refused, self._refused = self._refused, 0
        return refused

    async def __aenter__(self) -> None:
        if self._slots.locked() and self._queued >= self._waiting:
            self._refused += 1
            raise LoginBusy(first=self._refused == 1)
        self._queued += 1
        try:
            await self._slots.acquire()
        finally:
            self._queued -= 1

    async def __aexit__(self, *exc: object) -> None:
        self._slots.release()


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """The proxies whose forwarded-for header is believed (addresses or networks)."""

    def __init__(self, proxies: Iterable[str] = (), header: str = "X-Forwarded-For") -> None:
        self.networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(p, strict=False) for p in proxies
        )
        self.header = header

    def trusts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)


def client_address(peer: str | None, forwarded: str | None, proxies: TrustedProxies) -> str:
    """The address a request came from: the peer, or, when the peer is a trusted
    proxy, the nearest address in its forwarded-for list that is not a trusted proxy
    itself (the ones further left are whatever the client claimed)."""
    address = peer or "?"
    if not forwarded or not proxies.trusts(address):
        return address
    for hop in reversed(forwarded.split(",")):
        hop = hop.strip()
        try:
            hop = str(ipaddress.ip_address(hop))
        except ValueError:
            return address  # a garbled list: count the proxy, not a made-up name
        if not proxies.trusts(hop):
            return hop
        address = hop
    return address
