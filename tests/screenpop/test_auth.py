"""Passwords, session cookies, CSRF and embed tokens, login throttling: the pure parts."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from argon2 import PasswordHasher

from screenpop.auth import (
    LoginBusy,
    LoginGate,
    LoginLimiter,
    Passwords,
    Sessions,
    TrustedProxies,
    client_address,
)
from screenpop.store import Account

HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def account(passwords: Passwords, password: str = "s3cret-pass") -> Account:
    return Account("7", "alice", "PJSIP/101", "agent", passwords.hash(password))


def test_passwords_verify_only_the_right_one() -> None:
    passwords = Passwords(HASHER)
    digest = passwords.hash("s3cret-pass")
    assert digest.startswith("$argon2id$")
    assert passwords.verify(digest, "s3cret-pass")
    assert not passwords.verify(digest, "S3cret-pass")
    assert not passwords.verify(None, "s3cret-pass")
    assert not passwords.verify("not a hash", "s3cret-pass")


def test_a_session_cookie_names_its_agent_until_it_expires() -> None:
    clock = Clock()
    sessions = Sessions(b"k" * 32, clock=clock, ttl_s=3600)
    user = account(Passwords(HASHER))
    token, claims = sessions.issue(user)
    assert sessions.read(token) == claims and sessions.belongs_to(claims, user)
    clock.t += 3600
    assert sessions.read(token) is None


def test_a_tampered_or_foreign_cookie_is_nobody() -> None:
    sessions = Sessions(b"k" * 32, clock=Clock())
    token, _ = sessions.issue(account(Passwords(HASHER)))
    body, mac = token.split(".")
    assert sessions.read(body + "." + mac[::-1]) is None
    assert sessions.read(token + "x") is None
    assert Sessions(b"o" * 32, clock=Clock()).read(token) is None
    assert sessions.read("") is None and sessions.read(None) is None


def test_a_new_password_ends_the_old_sessions() -> None:
    passwords = Passwords(HASHER)
    sessions = Sessions(b"k" * 32, clock=Clock())
    user = account(passwords)
    _, claims = sessions.issue(user)
    changed = replace(user, password_hash=passwords.hash("another-pass"))
    assert not sessions.belongs_to(claims, changed)
    assert not sessions.belongs_to(claims, replace(user, active=False))


def test_csrf_tokens_belong_to_one_session() -> None:
    sessions = Sessions(b"k" * 32, clock=Clock())
    user = account(Passwords(HASHER))
    _, mine = sessions.issue(user)
    _, other = sessions.issue(user)
    token = sessions.csrf_token(mine)
    assert sessions.check_csrf(mine, token)
    assert not sessions.check_csrf(other, token)
    assert not sessions.check_csrf(mine, None) and not sessions.check_csrf(mine, "")


def test_tokens_of_one_kind_are_not_accepted_as_another() -> None:
    sessions = Sessions(b"k" * 32, clock=Clock())
    user = account(Passwords(HASHER))
    cookie, claims = sessions.issue(user)
    embed = sessions.embed_token(user, "https://crm.example", claims)
    assert sessions.read(embed) is None
    assert sessions.read_embed(cookie, "https://crm.example") is None


def test_an_embed_token_is_short_lived_and_bound_to_its_origin() -> None:
    clock = Clock()
    sessions = Sessions(b"k" * 32, clock=clock, embed_ttl_s=120)
    user = account(Passwords(HASHER))
    _, session = sessions.issue(user)
    token = sessions.embed_token(user, "https://crm.example", session)
    assert sessions.read_embed(token, "https://crm.example") is not None
    assert sessions.read_embed(token, "https://other.example") is None
    clock.t += 120
    assert sessions.read_embed(token, "https://crm.example") is None


def test_an_embed_token_names_its_session_and_never_outlives_it() -> None:
    clock = Clock()
    sessions = Sessions(b"k" * 32, clock=clock, ttl_s=3600, embed_ttl_s=120)
    user = account(Passwords(HASHER))
    _, session = sessions.issue(user)
    clock.t += 3600 - 30  # the shift's last half minute
    claims = sessions.read_embed(
        sessions.embed_token(user, "https://crm.example", session), "https://crm.example"
    )
    assert claims is not None and claims.session == session.nonce
    assert claims.expires == session.expires  # 30 s left, not 120
    # renewed from the widget's own claims: still that session, still its end
    renewed = sessions.read_embed(
        sessions.embed_token(user, "https://crm.example", claims), "https://crm.example"
    )
    assert renewed is not None and renewed.session == session.nonce
    assert renewed.expires == session.expires
    clock.t += 30
    assert (
        sessions.read_embed(
            sessions.embed_token(user, "https://crm.example", claims), "https://crm.example"
        )
        is None
    )


def test_attempts_are_limited_per_address_and_user() -> None:
    clock = Clock(0)
    limiter = LoginLimiter(clock=clock, per_pair=3, per_user=10, per_address=5, window_s=60)
    for _ in range(3):
        assert limiter.attempt("10.0.0.1", "Alice").wait == 0
    assert limiter.attempt("10.0.0.1", "alice").wait == 60  # names compare without case
    assert limiter.attempt("10.0.0.2", "alice").wait == 0  # another address is not blocked
    clock.t = 61
    assert limiter.attempt("10.0.0.1", "alice").wait == 0


def test_an_attempt_is_counted_when_it_is_allowed_not_after_the_password_check() -> None:
    limiter = LoginLimiter(clock=Clock(0), per_pair=5, per_user=20, per_address=20, window_s=60)
    # sixty guesses arriving together: each is let through or refused in one step
    allowed = [limiter.attempt("10.0.0.1", "alice").wait == 0 for _ in range(60)]
    assert allowed.count(True) == 5


def test_a_refused_attempt_is_not_counted() -> None:
    clock = Clock(0)
    limiter = LoginLimiter(clock=clock, per_pair=2, per_user=20, per_address=20, window_s=60)
    limiter.attempt("10.0.0.1", "alice")
    clock.t = 30
    limiter.attempt("10.0.0.1", "alice")
    for _ in range(100):
        limiter.attempt("10.0.0.1", "alice")  # refused: the wait does not grow
    clock.t = 60.5
    assert limiter.attempt("10.0.0.1", "alice").wait == 0


def test_spraying_many_users_from_one_address_is_limited() -> None:
    limiter = LoginLimiter(clock=Clock(0), per_pair=3, per_user=10, per_address=5, window_s=60)
    for user in ("a", "b", "c", "d", "e"):
        assert limiter.attempt("10.0.0.1", user).wait == 0
    assert limiter.attempt("10.0.0.1", "f").wait > 0
    assert limiter.attempt("10.0.0.2", "f").wait == 0


def test_guessing_one_user_from_many_addresses_locks_that_user_only() -> None:
    limiter = LoginLimiter(clock=Clock(0), per_pair=3, per_user=10, per_address=20, window_s=60)
    for n in range(10):
        assert limiter.attempt(f"10.0.1.{n}", "alice").wait == 0
    assert limiter.attempt("10.0.2.1", "alice").wait > 0
    assert limiter.attempt("10.0.2.1", "bob").wait == 0


def test_a_success_clears_the_users_attempts_and_gives_its_own_back() -> None:
    limiter = LoginLimiter(clock=Clock(0), per_pair=2, per_user=20, per_address=3, window_s=60)
    limiter.attempt("10.0.0.1", "alice")
    limiter.attempt("10.0.0.1", "alice")
    limiter.succeeded("10.0.0.1", "alice")
    assert limiter.attempt("10.0.0.1", "alice").wait == 0
    limiter.succeeded("10.0.0.1", "alice")
    # the address holds one failure: two more before its limit of three
    assert limiter.attempt("10.0.0.1", "bob").wait == 0
    assert limiter.attempt("10.0.0.1", "carol").wait == 0
    assert limiter.attempt("10.0.0.1", "dave").wait > 0


async def test_the_gate_runs_a_few_checks_queues_some_and_refuses_the_rest() -> None:
    gate = LoginGate(concurrent=2, waiting=1)
    release = asyncio.Event()
    running = 0

    async def check() -> str:
        nonlocal running
        try:
            async with gate:
                running += 1
                await release.wait()
                return "checked"
        except LoginBusy:
            return "busy"

    tasks = [asyncio.create_task(check()) for _ in range(5)]
    await asyncio.sleep(0)
    assert running == 2
    release.set()
    assert sorted(await asyncio.gather(*tasks)) == ["busy", "busy"] + ["checked"] * 3


def test_a_forwarded_address_is_believed_only_from_a_trusted_proxy() -> None:
    proxies = TrustedProxies(["127.0.0.1", "10.9.0.0/16"])
    assert client_address("127.0.0.1", "203.0.113.7", proxies) == "203.0.113.7"
    # the client's own claims are left of the hops the proxies appended
    assert client_address("127.0.0.1", "1.2.3.4, 203.0.113.7, 10.9.0.2", proxies) == "203.0.113.7"
    assert client_address("198.51.100.1", "203.0.113.7", proxies) == "198.51.100.1"
    assert client_address("127.0.0.1", "not-an-ip", proxies) == "127.0.0.1"
    assert client_address("127.0.0.1", None, proxies) == "127.0.0.1"
    assert client_address("127.0.0.1", "203.0.113.7", TrustedProxies()) == "127.0.0.1"


def test_only_the_first_refusal_of_a_locked_name_says_so() -> None:
    limiter = LoginLimiter(clock=Clock(0), per_pair=2, per_user=20, per_address=20, window_s=60)
    limiter.attempt("10.0.0.1", "alice")
    limiter.attempt("10.0.0.1", "alice")
    verdicts = [limiter.attempt("10.0.0.1", "alice") for _ in range(5)]
    assert [v.first_refusal for v in verdicts] == [True, False, False, False, False]
    assert limiter.attempt("10.0.0.1", "bob").wait == 0  # bob was never refused
