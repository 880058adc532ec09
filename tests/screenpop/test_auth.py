"""Passwords, session cookies, CSRF and embed tokens, login throttling: the pure parts."""

from __future__ import annotations

from dataclasses import replace

from argon2 import PasswordHasher

from screenpop.auth import LoginLimiter, Passwords, Sessions
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


def test_logout_revokes_the_cookie() -> None:
    sessions = Sessions(b"k" * 32, clock=Clock())
    token, claims = sessions.issue(account(Passwords(HASHER)))
    sessions.revoke(claims)
    assert sessions.read(token) is None


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
    embed = sessions.embed_token(user, "https://crm.example")
    cookie, _ = sessions.issue(user)
    assert sessions.read(embed) is None
    assert sessions.read_embed(cookie, "https://crm.example") is None


def test_an_embed_token_is_short_lived_and_bound_to_its_origin() -> None:
    clock = Clock()
    sessions = Sessions(b"k" * 32, clock=clock, embed_ttl_s=120)
    token = sessions.embed_token(account(Passwords(HASHER)), "https://crm.example")
    assert sessions.read_embed(token, "https://crm.example") is not None
    assert sessions.read_embed(token, "https://other.example") is None
    clock.t += 120
    assert sessions.read_embed(token, "https://crm.example") is None


def test_failed_logins_are_limited_per_address_and_user() -> None:
    clock = Clock(0)
    limiter = LoginLimiter(clock=clock, per_user=3, per_address=5, window_s=60)
    for _ in range(3):
        assert limiter.check("10.0.0.1", "Alice") == 0
        limiter.failed("10.0.0.1", "Alice")
    assert limiter.check("10.0.0.1", "alice") == 60  # names compare without case
    assert limiter.check("10.0.0.2", "alice") == 0  # another address is not blocked
    clock.t = 61
    assert limiter.check("10.0.0.1", "alice") == 0


def test_spraying_many_users_from_one_address_is_limited() -> None:
    clock = Clock(0)
    limiter = LoginLimiter(clock=clock, per_user=3, per_address=5, window_s=60)
    for user in ("a", "b", "c", "d", "e"):
        limiter.failed("10.0.0.1", user)
    assert limiter.check("10.0.0.1", "f") > 0


def test_a_success_clears_the_users_failures() -> None:
    limiter = LoginLimiter(clock=Clock(0), per_user=2, per_address=10, window_s=60)
    limiter.failed("10.0.0.1", "alice")
    limiter.succeeded("10.0.0.1", "alice")
    limiter.failed("10.0.0.1", "alice")
    assert limiter.check("10.0.0.1", "alice") == 0
