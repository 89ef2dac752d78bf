"""Brute-force protection over real sockets: SMTP submission (smtplib) and POP3 (poplib)."""

from __future__ import annotations

import base64
import poplib
import smtplib
from collections.abc import Iterator

import pytest

from roost.config import RoostConfig
from tests.integration.harness import (
    ALICE,
    ALICE_PASSWORD,
    BOB,
    BOB_PASSWORD,
    RunningServer,
    client_tls,
    prepare_config,
    running_server,
)


@pytest.fixture
def server(roost_config: RoostConfig) -> Iterator[RunningServer]:
    config = prepare_config(roost_config)
    config.auth.max_failures_per_ip = 3
    config.auth.max_failures_per_account = 100
    with running_server(config) as running:
        yield running


def plain(user: str, password: str) -> str:
    return "PLAIN " + base64.b64encode(f"\0{user}\0{password}".encode()).decode()


def smtp_auth(client: smtplib.SMTP, user: str, password: str) -> tuple[int, bytes]:
    return client.docmd("AUTH", plain(user, password))


def submission(server: RunningServer) -> smtplib.SMTP:
    client = server.smtp("submission")
    client.starttls(context=client_tls())
    client.ehlo()
    return client


def test_smtp_blocked_after_failures_gets_454(server: RunningServer) -> None:
    with submission(server) as client:
        for _ in range(3):
            code, text = smtp_auth(client, ALICE, "wrong")
            assert (code, text[:5]) == (535, b"5.7.8")
        code, text = smtp_auth(client, ALICE, ALICE_PASSWORD)
        assert code == 454
        assert text.startswith(b"4.7.0 Temporary authentication failure")
    with submission(server) as client:  # a new connection does not help
        assert smtp_auth(client, BOB, BOB_PASSWORD)[0] == 454


def test_smtp_success_resets_the_count(server: RunningServer) -> None:
    for _ in range(2):
        with submission(server) as client:
            for _ in range(2):
                assert smtp_auth(client, ALICE, "wrong")[0] == 535
            assert smtp_auth(client, ALICE, ALICE_PASSWORD)[0] == 235


def test_account_block_spares_other_accounts(roost_config: RoostConfig) -> None:
    config = prepare_config(roost_config)
    config.auth.max_failures_per_ip = 100
    config.auth.max_failures_per_account = 2
    with running_server(config) as server, submission(server) as client:
        assert smtp_auth(client, ALICE, "wrong")[0] == 535
        assert smtp_auth(client, ALICE, "wrong")[0] == 535
        assert smtp_auth(client, ALICE, ALICE_PASSWORD)[0] == 454
        assert smtp_auth(client, BOB, BOB_PASSWORD)[0] == 235


def pop3(server: RunningServer) -> poplib.POP3:
    client = poplib.POP3("127.0.0.1", server.port("pop3"), timeout=30)
    client.stls(context=client_tls())
    return client


def test_pop3_blocked_after_failures_is_sys_temp(server: RunningServer) -> None:
    client = pop3(server)
    for _ in range(3):
        client.user(ALICE)
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
            client.pass_("wrong")
    client.user(ALICE)
    with pytest.raises(poplib.error_proto, match=r"\[SYS/TEMP\] .*try again later"):
        client.pass_(ALICE_PASSWORD)
    client.quit()


def test_listeners_share_one_counter(server: RunningServer) -> None:
    """Failures over SMTP and POP3 add up: one AuthService per server."""
    with submission(server) as client:
        assert smtp_auth(client, ALICE, "wrong")[0] == 535
        assert smtp_auth(client, ALICE, "wrong")[0] == 535
    client = pop3(server)
    client.user(ALICE)
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        client.pass_("wrong")
    with pytest.raises(poplib.error_proto, match=r"\[SYS/TEMP\]"):
        client._shortcmd(plain(ALICE, ALICE_PASSWORD).replace("PLAIN", "AUTH PLAIN", 1))
    client.quit()
