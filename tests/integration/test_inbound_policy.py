"""Local policy on the MX listener over real SMTP: DNS blocklists, allow and block lists,
connection and message rate limits, greylisting, and the rspamd/clamd scanners (fake loopback
servers). Every refusal is checked with its exact reply code and enhanced status code."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from roost.config import RoostConfig
from roost.config.inbound import DnsblZone
from tests.dnsserver import DnsTestServer
from tests.integration.harness import running_server
from tests.integration.inbound_env import (
    checks_config,
    loop_thread,
    message,
    send,
    stored,
)
from tests.policy.scanservers import EICAR, FakeClamd, FakeRspamd

LISTED_IP = "1.0.0.127.bl.test"  # 127.0.0.1 in bl.test (RFC 5782 §2.1: octets reversed)


@pytest.fixture(scope="module")
def dns_module() -> Iterator[DnsTestServer]:
    with DnsTestServer() as dns:
        yield dns


@pytest.fixture
def config(roost_config: RoostConfig, dns_module: DnsTestServer) -> RoostConfig:
    dns_module.reset()
    dns_module.zones = {
        "pass.test": {"TXT": ["v=spf1 ip4:127.0.0.1 -all"]},
        LISTED_IP: {"A": ["127.0.0.2"], "TXT": ["listed, see https://bl.test/q?127.0.0.1"]},
        "spammer.test.rhs.test": {"A": ["127.0.0.2"]},
    }
    return checks_config(roost_config, dns_module)


def _dnsbl(config: RoostConfig, action: str = "reject") -> None:
    config.dnsbl.zones = [
        DnsblZone(zone="bl.test", codes=["127.0.0.2"]),
        DnsblZone(zone="rhs.test", kind="domain"),
    ]
    config.dnsbl.action = action  # type: ignore[assignment]


def test_dnsbl_listed_client_is_refused_at_mail(config: RoostConfig) -> None:
    _dnsbl(config)
    with running_server(config) as server:
        outcome = send(server, "someone@pass.test", message("someone@pass.test"))
        assert (outcome.stage, outcome.code) == ("mail", 554)
        assert outcome.text == (
            "5.7.1 Service unavailable; client [127.0.0.1] listed by bl.test: "
            "listed, see https://bl.test/q?127.0.0.1"
        )
        assert stored(server)["INBOX"] == []


def test_rhsbl_listed_sender_domain_is_refused(config: RoostConfig, dns_module: Any) -> None:
    _dnsbl(config)
    dns_module.remove(LISTED_IP)
    with running_server(config) as server:
        outcome = send(server, "x@spammer.test", message("x@spammer.test"))
        assert (outcome.stage, outcome.code, outcome.text) == (
            "mail", 554, "5.7.1 Service unavailable; sender domain spammer.test listed by rhs.test"
        )  # fmt: skip
        assert send(server, "someone@pass.test", message("someone@pass.test")).accepted


def test_dnsbl_tag_adds_a_header(config: RoostConfig) -> None:
    _dnsbl(config, "tag")
    with running_server(config) as server:
        assert send(server, "someone@pass.test", message("someone@pass.test")).accepted
        (data,) = stored(server)["INBOX"]
        assert b"X-Roost-DNSBL: client [127.0.0.1] listed by bl.test (127.0.0.2)\r\n" in data


def test_allow_list_bypasses_dnsbl_and_checks(config: RoostConfig) -> None:
    _dnsbl(config)
    config.lists.allow = ["127.0.0.0/8"]
    with running_server(config) as server:
        assert send(server, "someone@pass.test", message("someone@pass.test")).accepted
        (data,) = stored(server)["INBOX"]
        assert b"Authentication-Results" not in data


def test_block_list_client_and_sender(config: RoostConfig) -> None:
    config.lists.block = ["127.0.0.1"]
    with running_server(config) as server:
        outcome = send(server, "someone@pass.test", message("someone@pass.test"))
        assert (outcome.stage, outcome.code, outcome.text) == (
            "mail", 554, "5.7.1 Service unavailable; client [127.0.0.1] blocked by local policy"
        )  # fmt: skip
    config.lists.block = ["spam@pass.test", ".bad.test"]
    with running_server(config) as server:
        outcome = send(server, "SPAM@pass.test", message("spam@pass.test"))
        assert (outcome.stage, outcome.code, outcome.text) == (
            "mail", 554, "5.7.1 Sender <SPAM@pass.test> blocked by local policy"
        )  # fmt: skip
        assert send(server, "x@a.bad.test", message("x@a.bad.test")).code == 554
        assert send(server, "ok@pass.test", message("ok@pass.test")).accepted


def test_connection_rate_limit(config: RoostConfig) -> None:
    config.ratelimit.connections_per_ip_per_minute = 2
    with running_server(config) as server:
        for _ in range(2):
            assert send(server, "someone@pass.test", message("someone@pass.test")).accepted
        outcome = send(server, "someone@pass.test", message("someone@pass.test"))
        assert (outcome.stage, outcome.code) == ("greeting", 421)
        assert outcome.text.startswith(
            "4.7.0 Too many connections from your address recently; try again later (in "
        )


def test_message_rate_limit(config: RoostConfig) -> None:
    config.ratelimit.messages_per_hour_per_ip = 2
    with running_server(config) as server:
        for _ in range(2):
            assert send(server, "someone@pass.test", message("someone@pass.test")).accepted
        outcome = send(server, "someone@pass.test", message("someone@pass.test"))
        assert (outcome.stage, outcome.code) == ("data", 451)
        assert outcome.text.startswith(
            "4.7.1 Too many messages from your address, account or domain; try again later"
        )
        assert len(stored(server)["INBOX"]) == 2


def test_message_rate_per_user_on_submission(config: RoostConfig) -> None:
    config.ratelimit.messages_per_hour_per_user = 1
    with running_server(config) as server, server.submission() as client:
        mail = message("alice@roost.test")
        client.sendmail("alice@roost.test", ["bob@roost.test"], mail)
        client.mail("alice@roost.test")
        client.rcpt("bob@roost.test")
        code, text = client.data(mail)
        assert (code, text[:6]) == (451, b"4.7.1 ")


def test_greylisting_defers_then_accepts(config: RoostConfig) -> None:
    config.greylist.enabled = True
    config.greylist.delay = 1.0
    with running_server(config) as server:
        outcome = send(server, "someone@pass.test", message("someone@pass.test"))
        assert (outcome.stage, outcome.code) == ("rcpt", 451)
        assert outcome.text == "4.7.1 Greylisted, try again in 1 seconds"
        deadline = time.monotonic() + 20
        while not outcome.accepted and time.monotonic() < deadline:
            time.sleep(0.3)
            outcome = send(server, "someone@pass.test", message("someone@pass.test"))
        assert outcome.accepted, outcome
        assert len(stored(server)["INBOX"]) == 1
        # The passed triplet is remembered: the next message is not delayed.
        assert send(server, "someone@pass.test", message("someone@pass.test")).accepted


def test_greylisting_allow_list(config: RoostConfig) -> None:
    config.greylist.enabled = True
    config.greylist.allow = ["pass.test"]
    with running_server(config) as server:
        assert send(server, "someone@pass.test", message("someone@pass.test")).accepted


def _scanners(config: RoostConfig, thread: Any, rspamd: FakeRspamd | None = None) -> FakeClamd:
    clamd = FakeClamd()
    config.clamd.address = f"127.0.0.1:{thread.run(clamd.start())}"
    if rspamd is not None:
        config.rspamd.address = f"http://127.0.0.1:{thread.run(rspamd.start())}"
    return clamd


def test_clamd_virus_is_refused(config: RoostConfig) -> None:
    with loop_thread() as thread:
        clamd = _scanners(config, thread)
        with running_server(config) as server:
            virus = message("someone@pass.test", body=EICAR + b"\r\n")
            outcome = send(server, "someone@pass.test", virus)
            assert (outcome.stage, outcome.code) == ("data", 554)
            assert outcome.text.startswith("5.7.1 Message contains a virus (")
            clean = send(server, "someone@pass.test", message("someone@pass.test"))
            assert clean.accepted
            (data,) = stored(server)["INBOX"]
            assert b"X-Virus-Scanned: clamd\r\n" in data
        thread.run(clamd.stop())


@pytest.mark.parametrize(
    ("action", "stage_code", "box"),
    [("reject", 554, None), ("soft reject", 451, None), ("add header", 250, "Junk"),
     ("no action", 250, "INBOX")],
)  # fmt: skip
def test_rspamd_actions(config: RoostConfig, action: str, stage_code: int, box: str | None) -> None:
    rspamd = FakeRspamd(answer={"action": action, "score": 9.0, "required_score": 15.0,
                                "symbols": {"TEST": {}}})  # fmt: skip
    with loop_thread() as thread:
        clamd = _scanners(config, thread, rspamd)
        with running_server(config) as server:
            outcome = send(server, "someone@pass.test", message("someone@pass.test"))
            assert outcome.code == stage_code, outcome
            if stage_code == 554:
                assert outcome.text == "5.7.1 Message refused by content policy"
            elif stage_code == 451:
                assert outcome.text.startswith("4.7.1 ")
            boxes = stored(server)
            if box is None:
                assert boxes == {"INBOX": [], "Junk": []}
            else:
                (data,) = boxes[box]
                assert b"X-Spam-Status: " in data
            (request,) = rspamd.requests
            assert request.values("From") == ["someone@pass.test"]
            assert request.values("Rcpt") == ["bob@roost.test"]
            assert request.values("IP") == ["127.0.0.1"]
        thread.run(clamd.stop())
        thread.run(rspamd.stop())
