"""argon2id hashing: right parameters, verification that never raises, rehash detection."""

from __future__ import annotations

from argon2 import PasswordHasher

from roost.accounts.passwords import (
    MEMORY_COST_KIB,
    TIME_COST,
    hash_password,
    needs_rehash,
    verify_password,
)


def test_hash_is_argon2id_with_chosen_parameters() -> None:
    """Hashes carry the argon2id scheme and the OWASP-minimum parameters."""
    stored = hash_password("s3cret")
    assert stored.startswith("$argon2id$v=19$")
    assert f"m={MEMORY_COST_KIB},t={TIME_COST},p=1" in stored


def test_salts_differ() -> None:
    """The same password hashes differently each time (random salt)."""
    assert hash_password("x") != hash_password("x")


def test_verify_matches_only_the_right_password() -> None:
    """The right password verifies; a different one does not."""
    stored = hash_password("correct horse")
    assert verify_password(stored, "correct horse")
    assert not verify_password(stored, "correct horse ")
    assert not verify_password(stored, "")


def test_verify_never_raises_on_garbage() -> None:
    """A corrupt or foreign stored value is a failed login, not an exception."""
    for stored in ("", "plain", "$argon2id$v=19$m=1", "$2b$12$abcdefghijklmnopqrstuv"):
        assert not verify_password(stored, "pw")


def test_unicode_password() -> None:
    """Non-ASCII passwords round-trip (hashed as UTF-8)."""
    assert verify_password(hash_password("pässwörd✓"), "pässwörd✓")


def test_needs_rehash() -> None:
    """Our own hashes are current; weaker parameters or garbage need a rehash."""
    assert not needs_rehash(hash_password("a"))
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("a")
    assert needs_rehash(weak)
    assert verify_password(weak, "a")  # still verifies, so it can be upgraded at login
    assert needs_rehash("garbage")
