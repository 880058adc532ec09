"""Who is asking: passwords, session cookies, CSRF tokens, embed tokens, login throttling.

No I/O here: the app (`screenpop.app`) reads cookies and forms and calls these.

- Passwords are argon2id hashes (argon2-cffi's defaults follow RFC 9106's second
  recommended option); an unknown user costs the same verification as a known one, so
  response time does not tell which names exist.
- The session cookie is a signed token, not a server-side record: it names the agent,
  expires after a shift, and its MAC covers a fingerprint of the agent's password hash,
  so changing a password ends every session of that agent (Django does the same).
  Logout revokes the token's nonce until it would have expired anyway. Roles are
  never taken from the cookie: the account is read again on every request.
- CSRF tokens are derived from the session's nonce (a synchronizer token that needs no
  storage); every POST must carry it in a form field or the `X-CSRF-Token` header.
- An embed token lets the widget on a CRM page (another origin, where SameSite=Lax
  cookies are not sent) open the agent's socket: bound to that origin, short-lived,
  renewed over the socket while it lives.
- Login attempts are limited per (address, user) and per address, so neither guessing
  one password nor spraying many users works.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from screenpop.store import Account

__all__ = [
    "EmbedClaims",
    "LoginLimiter",
    "Passwords",
    "SessionClaims",
    "Sessions",
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
            return self._hasher.verify(password_hash or self._dummy, password) and bool(password_hash)
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


class Sessions:
    """Signs and reads session cookies, CSRF tokens and embed tokens with one key.

    Each kind of token is signed under its own label, so no token of one kind is ever
    accepted as another. `clock` gives Unix seconds.
    """

    def __init__(self, key: bytes, *, clock: Callable[[], float], ttl_s: int = SESSION_TTL_S,
                 embed_ttl_s: int = EMBED_TTL_S) -> None:
        if len(key) < 32:
            raise ValueError("the session key needs at least 32 bytes")
        self._key = key
        self._clock = clock
        self.ttl_s = ttl_s
        self.embed_ttl_s = embed_ttl_s
        self._revoked: OrderedDict[str, int] = OrderedDict()  # nonce -> expiry

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
        claims = SessionClaims(account.id, secrets.token_urlsafe(16), now, now + self.ttl_s,
                               password_fingerprint(account.password_hash))
        token = self._sign("session", {"a": claims.agent_id, "n": claims.nonce,
                                       "i": claims.issued, "e": claims.expires,
                                       "f": claims.fingerprint})
        return token, claims

    def read(self, token: str | None) -> SessionClaims | None:
        """The claims of a valid, unexpired, unrevoked cookie; None otherwise."""
        payload = self._open("session", token)
        if payload is None:
            return None
        try:
            claims = SessionClaims(str(payload["a"]), str(payload["n"]), int(payload["i"]),
                                   int(payload["e"]), str(payload["f"]))
        except (KeyError, TypeError, ValueError):
            return None
        if claims.expires <= self._now() or claims.nonce in self._revoked:
            return None
        return claims

    @staticmethod
    def belongs_to(claims: SessionClaims | EmbedClaims, account: Account | None) -> bool:
        """The token is still good for this account (active, same password)."""
        return (account is not None and account.active and account.id == claims.agent_id
                and hmac.compare_digest(claims.fingerprint,
                                        password_fingerprint(account.password_hash)))

    def revoke(self, claims: SessionClaims) -> None:
        now = self._now()
        self._revoked[claims.nonce] = claims.expires
        # drop nonces whose tokens have expired anyway: the list stays small
        while self._revoked:
            nonce, expires = next(iter(self._revoked.items()))
            if expires > now:
                break
            del self._revoked[nonce]

    # --- CSRF -------------------------------------------------------------------------

    def csrf_token(self, claims: SessionClaims) -> str:
        return self._mac("csrf", claims.nonce)

    def check_csrf(self, claims: SessionClaims, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.csrf_token(claims))

    # --- embed tokens -----------------------------------------------------------------

    def embed_token(self, account: Account, origin: str) -> str:
        return self._sign("embed", {"a": account.id, "o": origin,
                                    "e": self._now() + self.embed_ttl_s,
                                    "f": password_fingerprint(account.password_hash)})

    def read_embed(self, token: str | None, origin: str) -> EmbedClaims | None:
        payload = self._open("embed", token)
        if payload is None:
            return None
        try:
            claims = EmbedClaims(str(payload["a"]), str(payload["o"]), int(payload["e"]),
                                 str(payload["f"]))
        except (KeyError, TypeError, ValueError):
            return None
        if claims.expires <= self._now() or not hmac.compare_digest(claims.origin, origin):
            return None
        return claims


class LoginLimiter:
    """Failed logins allowed per `window_s`: `per_user` per (address, user name) and
    `per_address` per address. `check` answers how long to wait (0: go ahead).

    Memory is bounded: at most `max_keys` addresses and pairs are tracked, the least
    recently failing forgotten first.
    """

    def __init__(self, *, clock: Callable[[], float], per_user: int = 5, per_address: int = 20,
                 window_s: float = 300.0, max_keys: int = 10_000) -> None:
        self._clock = clock
        self._per_user = per_user
        self._per_address = per_address
        self._window = window_s
        self._max_keys = max_keys
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self._window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def check(self, address: str, user: str) -> float:
        """Seconds until another attempt is allowed for this address and user, or 0."""
        now = self._clock()
        waits = [0.0]
        for key, limit in (((address, user.casefold()), self._per_user),
                           ((address, ""), self._per_address)):
            times = self._recent(key, now)
            if len(times) >= limit:
                waits.append(times[len(times) - limit] + self._window - now)
        return max(waits)

    def failed(self, address: str, user: str) -> None:
        now = self._clock()
        for key, limit in (((address, user.casefold()), self._per_user),
                           ((address, ""), self._per_address)):
            # only the last `limit` failures decide the wait: keep no more than that
            times = self._failures.setdefault(key, deque(maxlen=limit))
            times.append(now)
            self._failures.move_to_end(key)
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, address: str, user: str) -> None:
        self._failures.pop((address, user.casefold()), None)
