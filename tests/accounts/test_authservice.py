"""AuthService: counting, blocking, unblocking, resets, equal work, exemptions, memory cap.

The clock is injected and the password check is a counting stub, so nothing sleeps or hashes.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest

from roost.accounts.authservice import AuthService, AuthStatus, client_key, dummy_hash
from roost.config.model import AuthConfig
from roost.store.types import Directory, User

ALICE = "alice@example.org"
BOB = "bob@example.org"
T0 = datetime(2024, 1, 1, tzinfo=UTC)
ATTACKER = "192.0.2.66"
OTHER = "198.51.100.7"


def directory() -> Directory:
    users = {u: User(u, f"hash-of-{u}", T0) for u in (ALICE, BOB)}
    return Directory(1, frozenset({"example.org"}), users, {})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Verifier:
    """Stands in for argon2: right when the password is 'right' and the hash a real user's."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, stored: str, password: str) -> bool:
        self.calls.append(stored)
        return stored.startswith("hash-of-") and password == "right"


def service(**settings: object) -> tuple[AuthService, Clock, Verifier]:
    config = AuthConfig(
        max_failures_per_ip=3, max_failures_per_account=5, window_seconds=60, block_seconds=300
    )
    for key, value in settings.items():
        setattr(config, key, value)
    clock, verifier = Clock(), Verifier()
    return AuthService(directory, config, clock, verify=verifier), clock, verifier


def attempt(
    auth: AuthService, user: str = ALICE, password: str = "wrong", ip: str = ATTACKER
) -> AuthStatus:
    result = asyncio.run(auth.verify(user, password, client_ip=ip, protocol="test"))
    return result.status


def test_ok_normalises_user() -> None:
    auth, _, _ = service()
    result = asyncio.run(auth.verify(" Alice@Example.ORG ", "right", client_ip=OTHER, protocol="t"))
    assert result.ok
    assert result.user == ALICE
    assert result.retry_after == 0


def test_ip_blocked_after_threshold_even_with_right_password() -> None:
    auth, _, verifier = service()
    assert [attempt(auth) for _ in range(3)] == [AuthStatus.FAILED] * 3
    calls = len(verifier.calls)
    result = asyncio.run(auth.verify(ALICE, "right", client_ip=ATTACKER, protocol="t"))
    assert result.blocked
    assert result.retry_after == pytest.approx(300)
    assert attempt(auth, BOB, "right") is AuthStatus.BLOCKED  # the address, whatever account
    assert len(verifier.calls) == calls  # blocked: the password is not even looked at
    assert attempt(auth, ALICE, "right", ip=OTHER) is AuthStatus.OK  # other clients unaffected


def test_failures_outside_the_window_are_forgotten() -> None:
    auth, clock, _ = service()
    attempt(auth)
    attempt(auth)
    clock.now += 61
    attempt(auth)
    attempt(auth)
    assert attempt(auth, password="right") is AuthStatus.OK  # only 2 inside any 60 s


def test_unblocked_after_block_seconds() -> None:
    auth, clock, _ = service()
    for _ in range(3):
        attempt(auth)
    clock.now += 299
    assert attempt(auth, password="right") is AuthStatus.BLOCKED
    clock.now += 1
    assert attempt(auth, password="right") is AuthStatus.OK


def test_block_starts_clean_afterwards() -> None:
    auth, clock, _ = service()
    for _ in range(3):
        attempt(auth)
    clock.now += 300
    assert attempt(auth) is AuthStatus.FAILED
    assert attempt(auth) is AuthStatus.FAILED  # not blocked again after a single failure


def test_account_blocked_from_many_addresses() -> None:
    auth, _, _ = service()
    for n in range(5):
        assert attempt(auth, ip=f"203.0.113.{n}") is AuthStatus.FAILED
    assert attempt(auth, password="right", ip=OTHER) is AuthStatus.BLOCKED
    assert attempt(auth, BOB, "right", ip=OTHER) is AuthStatus.OK  # other accounts unaffected


def test_success_resets_ip_and_account_counters() -> None:
    auth, _, _ = service()
    attempt(auth)
    attempt(auth)
    assert attempt(auth, password="right") is AuthStatus.OK
    attempt(auth)
    attempt(auth)
    assert attempt(auth, password="right") is AuthStatus.OK  # 2 + 2 failures, never 3 in a row


def test_unknown_user_costs_the_same_work() -> None:
    auth, _, verifier = service()
    assert attempt(auth, "nobody@example.org", "right") is AuthStatus.FAILED
    assert attempt(auth, ALICE, "wrong", ip=OTHER) is AuthStatus.FAILED
    assert verifier.calls == [dummy_hash(), "hash-of-" + ALICE]  # one check either way
    assert dummy_hash() == dummy_hash()  # made once
    assert dummy_hash().startswith("$argon2id$")


def test_unknown_users_are_counted_too() -> None:
    """Otherwise 'blocked' for real accounts only would reveal which accounts exist."""
    auth, _, _ = service(max_failures_per_ip=100, max_failures_per_account=2)
    for _ in range(2):
        attempt(auth, "nobody@example.org")
    assert attempt(auth, "nobody@example.org") is AuthStatus.BLOCKED


def test_foreign_authzid_fails_and_counts() -> None:
    auth, _, _ = service(max_failures_per_ip=1)
    result = asyncio.run(auth.verify(ALICE, "right", client_ip=ATTACKER, protocol="t", authzid=BOB))
    assert result.status is AuthStatus.FAILED
    assert attempt(auth, password="right") is AuthStatus.BLOCKED


def test_exempt_networks_are_never_blocked() -> None:
    auth, _, _ = service(exempt_networks=["192.0.2.0/24"])
    for _ in range(10):
        assert attempt(auth) is AuthStatus.FAILED
    assert attempt(auth, password="right") is AuthStatus.OK
    assert auth.tracked == (0, 0)


def test_loopback_is_not_exempt_by_default() -> None:
    auth, _, _ = service()
    for _ in range(3):
        attempt(auth, ip="127.0.0.1")
    assert attempt(auth, password="right", ip="127.0.0.1") is AuthStatus.BLOCKED


def test_ipv6_counted_per_64() -> None:
    auth, _, _ = service()
    for n in range(3):
        attempt(auth, BOB, ip=f"2001:db8:1:2::{n + 1}")
    assert attempt(auth, password="right", ip="2001:db8:1:2:ffff::9") is AuthStatus.BLOCKED
    assert attempt(auth, password="right", ip="2001:db8:1:3::1") is AuthStatus.OK
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"


def test_memory_is_capped_oldest_evicted() -> None:
    auth, _, _ = service(max_tracked=10, max_failures_per_account=1000)
    for n in range(50):
        attempt(auth, f"u{n}@example.org", ip=f"10.0.0.{n}")
    assert auth.tracked == (10, 10)
    # the newest are still counted: two more failures from 10.0.0.49 block it
    attempt(auth, ip="10.0.0.49")
    attempt(auth, ip="10.0.0.49")
    assert attempt(auth, password="right", ip="10.0.0.49") is AuthStatus.BLOCKED
    # the oldest were forgotten
    for _ in range(2):
        attempt(auth, ip="10.0.0.0")
    assert attempt(auth, password="right", ip="10.0.0.0") is AuthStatus.OK


def test_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    auth, _, _ = service()
    with caplog.at_level(logging.INFO, logger="roost.auth"):
        attempt(auth, password="right")
        for _ in range(5):
            attempt(auth)
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("auth ok") == 1
    assert messages.count("auth failed") == 3
    assert messages.count("auth blocked") == 1  # once per block, not per refused attempt
