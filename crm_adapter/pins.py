"""Caller PINs: how they are kept (argon2id hashes) and how guessing is bounded.

A 4-digit PIN has 10,000 values: a per-call limit alone (three tries, then the agent)
lets anyone who can dial try them all over a few thousand calls. So the count of wrong
PINs lives with the PIN, per customer, across calls and instances, and a customer
whose PIN was missed too often in a row is locked for a while: from the
`MAX_FAILURES`th wrong PIN for `FIRST_LOCK`, doubling with each wrong PIN after a lock,
up to `LONGEST_LOCK`. A caller then gets about one guess a day, while the real customer
is delayed minutes, not shut out until someone resets a flag (an attacker who can lock
anyone out for good has a denial of service).

The store takes an attempt before it compares (`failures + 1` in one UPDATE), so that
calls racing on the same customer cannot all guess before the count moves; a right PIN
then clears the count.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = [
    "FIRST_LOCK",
    "LONGEST_LOCK",
    "MAX_FAILURES",
    "MAX_PIN_DIGITS",
    "MIN_PIN_DIGITS",
    "check_pin",
    "hash_pin",
    "lock_after",
    "pin_matches",
]

MIN_PIN_DIGITS: Final = 4
MAX_PIN_DIGITS: Final = 12
MAX_FAILURES: Final = 5
FIRST_LOCK: Final = timedelta(minutes=15)
LONGEST_LOCK: Final = timedelta(hours=24)

# OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane): a PIN check runs for a caller
# waiting in silence, often many at once during a flood; agents' passwords use the
# heavier defaults (screenpop/auth.py). A PIN's strength is the lockout, not the hash.
_HASHER: Final = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)


def check_pin(pin: str) -> str:
    """`pin` if it is a PIN callpop can store (4 to 12 digits); ValueError otherwise,
    whose message never repeats the PIN."""
    if not (pin.isascii() and pin.isdigit()):
        raise ValueError("a PIN is digits only")
    if not MIN_PIN_DIGITS <= len(pin) <= MAX_PIN_DIGITS:
        raise ValueError(f"a PIN has {MIN_PIN_DIGITS} to {MAX_PIN_DIGITS} digits")
    return pin


def hash_pin(pin: str) -> str:
    """The argon2id hash stored for `pin` (salted: the same PIN hashes differently)."""
    return _HASHER.hash(check_pin(pin))


def pin_matches(pin_hash: str, pin: str) -> bool:
    """Whether `pin` is the PIN of `pin_hash`; a damaged hash matches nothing. CPU-bound
    (about 0.1 s): run it off the event loop."""
    try:
        return _HASHER.verify(pin_hash, pin)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def lock_after(failures: int) -> timedelta | None:
    """How long a customer is locked once `failures` wrong PINs in a row were counted
    (None: not locked)."""
    if failures < MAX_FAILURES:
        return None
    doublings: int = min(failures - MAX_FAILURES, 16)
    lock: timedelta = FIRST_LOCK * (1 << doublings)
    return min(lock, LONGEST_LOCK)
