"""Password hashing with argon2id (RFC 9106), the scheme OWASP recommends for stored passwords.

Parameters: time_cost=2, memory_cost=19456 KiB (19 MiB), parallelism=1 -- OWASP's minimum
argon2id configuration. The server verifies a password on every SMTP/IMAP AUTH, so each check
costs CPU and memory per login; the library defaults (64 MiB) would let a burst of AUTH attempts
exhaust memory. 19 MiB keeps one verification around 20 ms while still making offline guessing
expensive. Stored hashes carry their parameters, so `needs_rehash` lets us raise them later and
upgrade each hash at the user's next successful login.
"""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

TIME_COST = 2
MEMORY_COST_KIB = 19456
PARALLELISM = 1

_HASHER = PasswordHasher(
    time_cost=TIME_COST,
    memory_cost=MEMORY_COST_KIB,
    parallelism=PARALLELISM,
    hash_len=32,
    salt_len=16,
    type=Type.ID,
)


def hash_password(password: str) -> str:
    """An encoded argon2id hash ("$argon2id$v=19$m=...") with a fresh random salt."""
    return str(_HASHER.hash(password))


def verify_password(stored: str, password: str) -> bool:
    """True only when `password` matches `stored`; any mismatch or malformed hash is False.

    Never raises: callers on the AUTH path must not turn a corrupt row into a server error.
    The comparison itself is constant-time inside libargon2.
    """
    try:
        return bool(_HASHER.verify(stored, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    except (ValueError, TypeError):
        return False


def needs_rehash(stored: str) -> bool:
    """True when `stored` was made with other parameters (or is unreadable) and should be redone."""
    try:
        return bool(_HASHER.check_needs_rehash(stored))
    except (InvalidHashError, ValueError):
        return True
