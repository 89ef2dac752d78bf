"""Outbound delivery end to end: Roost relays to real SMTP servers found through a real DNS server.

Every remote party is on loopback: a dnslib DNS server publishes MX records pointing at
127.0.0.x, where scripted SMTP servers (tests/delivery/servers.py) accept, defer, reject or
throttle. Mail enters through Roost's own submission listener, as a user's client would send it.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path

import dkim
import pytest

from roost.auth import dkim_keys
from roost.config import RoostConfig, resolve_path
from roost.queue.bounces import parse_verp
from roost.store.types import QueueState
from tests.delivery.servers import (
    accepts_all,
    rejects_some,
    self_signed_starttls,
    temp_fail_then_accept,
    throttles_421,
)
from tests.integration.delivery_env import Network, loopback_network, wait_for
from tests.integration.harness import ALICE, RunningServer, prepare_config, running_server
from tests.integration.test_receive import make_message


@pytest.fixture
def network() -> Iterator[Network]:
    with loopback_network() as net:
        yield net


@pytest.fixture
def dkim_record(roost_config: RoostConfig) -> bytes:
    """A DKIM key for roost.test (selector "roost"), and the TXT record a verifier would fetch."""
    key = dkim_keys.generate("rsa", 2048)
    key_dir = resolve_path(roost_config, roost_config.dkim.key_dir)
    dkim_keys.write_key(dkim_keys.key_path(key_dir, "roost.test", "roost"), key)
    return dkim_keys.dns_record(key.public_key()).encode()


def relay_config(roost_config: RoostConfig, network: Network) -> RoostConfig:
    config = network.configure(prepare_config(roost_config))
    config.delivery.enabled = True
    return config


def send(server: RunningServer, recipients: list[str], subject: str) -> None:
    with server.submission() as client:
        client.sendmail(ALICE, recipients, make_message(ALICE, ", ".join(recipients), subject))


def test_relay_with_dkim_signature(
    roost_config: RoostConfig, network: Network, dkim_record: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """Submission -> queue -> remote MX over STARTTLS, DKIM-signed so dkimpy verifies it;
    one log line per recipient says where it went and what came back."""
    caplog.set_level(logging.INFO, logger="roost")
    mx = network.add_mx("remote.example", "127.0.0.2", self_signed_starttls())
    with running_server(relay_config(roost_config, network)) as server:
        send(server, ["friend@remote.example"], "relayed")
        (got,) = wait_for(lambda: mx.messages, what="delivery to the remote MX")
        wait_for(lambda: not server.store.list_queue(), what="an empty queue")
        attempts_left = server.store.list_queue()
    assert got.tls  # opportunistic STARTTLS ("may") with a certificate nobody vouches for
    assert got.sender == ALICE
    assert got.recipients == ["friend@remote.example"]
    assert got.data.startswith(b"DKIM-Signature:")
    records = {b"roost._domainkey.roost.test.": dkim_record}
    assert dkim.verify(got.data, dnsfunc=lambda name, timeout=5: records.get(name))
    assert attempts_left == []
    (line,) = [r for r in caplog.records if r.name == "roost.delivery" and r.msg == "status"]
    fields = line.roost_fields  # type: ignore[attr-defined]
    assert fields["status"] == "sent"
    assert fields["rcpt"] == "<friend@remote.example>"
    assert fields["relay"] == f"mx0.remote.example[127.0.0.2]:{network.port}"
    assert fields["dsn"] == "2.0.0"
    assert fields["reply"].startswith("250")
    assert {"queue_id", "delay"} <= set(fields)


def test_retry_after_temporary_failure(roost_config: RoostConfig, network: Network) -> None:
    """A 4xx after the data defers the message; the retry delivers it; show lists both tries."""
    mx = network.add_mx("remote.example", "127.0.0.2", temp_fail_then_accept(1))
    config = relay_config(roost_config, network)
    with running_server(config) as server:
        send(server, ["friend@remote.example"], "retried")
        (entry,) = wait_for(
            lambda: [e for e in server.store.list_queue() if e.state is QueueState.DEFERRED],
            what="a deferral",
        )
        attempts = server.store.list_attempts(entry.queue_id)
        assert attempts[0].mx_host == "mx0.remote.example"
        assert attempts[0].reply.startswith("451")
        wait_for(lambda: mx.messages, what="the retry's delivery")
        wait_for(lambda: not server.store.list_queue(), what="an empty queue")


def test_per_recipient_outcomes_bounce_and_suppression(
    roost_config: RoostConfig, network: Network
) -> None:
    """One recipient delivered, one rejected: a DSN reaches the sender, the bad address is
    suppressed, and the next message to it bounces without a connection."""
    mx = network.add_mx("remote.example", "127.0.0.2", rejects_some("gone@remote.example"))
    with running_server(relay_config(roost_config, network)) as server:
        send(server, ["ok@remote.example", "gone@remote.example"], "mixed")
        wait_for(lambda: mx.messages, what="the good recipient's copy")
        (dsn,) = wait_for(lambda: server.inbox(ALICE), what="a DSN in the sender's INBOX")
        report = message_from_bytes(server.message_bytes(dsn))
        assert report.get_content_type() == "multipart/report"
        status = report.get_payload()[1].as_string()
        assert "Final-Recipient: rfc822; gone@remote.example" in status
        assert "Action: failed" in status
        assert "Status: 5.1.1" in status
        assert server.store.find_suppression("roost.test", "gone@remote.example") is not None
        connections = mx.connections
        send(server, ["gone@remote.example"], "again")
        wait_for(lambda: len(server.inbox(ALICE)) == 2, what="a second DSN")
        assert mx.connections == connections  # suppressed: no connection was made
    assert mx.messages[0].recipients == ["ok@remote.example"]


def test_final_bounce_after_lifetime(roost_config: RoostConfig, network: Network) -> None:
    """A destination that keeps deferring: at the end of the queue lifetime the message bounces."""
    network.add_mx("remote.example", "127.0.0.2", temp_fail_then_accept(1000))
    config = relay_config(roost_config, network)
    config.delivery.retry.max_lifetime = 3.0
    config.delivery.retry.delay_warning = 0
    with running_server(config) as server:
        send(server, ["friend@remote.example"], "never")
        (dsn,) = wait_for(lambda: server.inbox(ALICE), what="the bounce")
        text = server.message_bytes(dsn)
        assert b"Action: failed" in text
        assert b"Status: 5.4.7" in text
        wait_for(lambda: not server.store.list_queue(), what="an empty queue")


def test_null_mx_bounces_at_once(roost_config: RoostConfig, network: Network) -> None:
    """RFC 7505: a domain publishing null MX gets no attempt; the sender gets a 5.1.10 bounce."""
    network.dns.zones = {"nomail.example": {"MX": [(0, ".")]}}
    with running_server(relay_config(roost_config, network)) as server:
        send(server, ["x@nomail.example"], "null mx")
        (dsn,) = wait_for(lambda: server.inbox(ALICE), what="the bounce")
        assert b"5.1.10" in server.message_bytes(dsn)


def test_throttling_slows_only_that_destination(
    roost_config: RoostConfig, network: Network
) -> None:
    """A destination answering 421 is paused; mail to another destination still flows."""
    slow = network.add_mx("slow.example", "127.0.0.3", throttles_421(after=0))
    fast = network.add_mx("fast.example", "127.0.0.4", accepts_all())
    with running_server(relay_config(roost_config, network)) as server:
        for n in range(3):
            send(server, [f"a{n}@slow.example"], f"slow {n}")
        for n in range(3):
            send(server, [f"b{n}@fast.example"], f"fast {n}")
        wait_for(lambda: len(fast.messages) == 3, what="all mail to the fast destination")
        deferred = [e for e in server.store.list_queue() if e.state is QueueState.DEFERRED]
        assert len(deferred) == 3
        assert slow.messages == []


def test_sigkill_during_delivery_loses_nothing(
    roost_config: RoostConfig, network: Network, tmp_path: Path
) -> None:
    """SIGKILL while delivering, restart: every message reaches the MX (at least once)."""
    from tests.integration.test_crash import free_port, start_server, wait_ready

    mx = network.add_mx("remote.example", "127.0.0.2", accepts_all())
    config = relay_config(roost_config, network)
    port = free_port()
    config.listeners.mx.address = f"127.0.0.1:{port}"
    config.listeners.submission.enabled = False
    config.listeners.submissions.enabled = False
    config.delivery.enabled = False  # queue first, then deliver with the kill in the middle
    with (
        running_server(config) as server,
        smtplib.SMTP("127.0.0.1", server.port(), timeout=30) as client,
    ):
        for n in range(40):
            client.sendmail("s@roost.test", [f"r{n}@remote.example"],
                            make_message("s@roost.test", "r", f"token-{n}"))  # fmt: skip
    config.delivery.enabled = True
    config.delivery.lease_seconds = 2.0
    config.delivery.max_connections_per_domain = 1
    config.delivery.messages_per_connection = 5
    config_path = write_config_file(config, tmp_path)
    log = tmp_path / "server.log"
    proc = start_server(config_path, log)
    wait_ready(port, proc)
    wait_for(lambda: mx.messages, what="the first deliveries")
    proc.kill()
    proc.wait(10)
    proc = start_server(config_path, log)
    try:
        wait_ready(port, proc)
        tokens = lambda: {_subject(m.data) for m in mx.messages}  # noqa: E731
        wait_for(lambda: len(tokens()) == 40, timeout=60, what="all 40 messages delivered")
    finally:
        proc.terminate()
        proc.wait(30)
    assert tokens() == {f"token-{n}" for n in range(40)}


def write_config_file(config: RoostConfig, tmp_path: Path) -> Path:
    from tests.integration.test_crash import write_config

    path = tmp_path / "roost.toml"
    write_config(config, path)
    return path


def _subject(data: bytes) -> str:
    return str(message_from_bytes(data)["Subject"])


ASYNC_BOUNCE = """\
From: MAILER-DAEMON@mx0.remote.example
To: {to}
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b1"

--b1
Content-Type: text/plain

The mailbox is gone.

--b1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx0.remote.example

Final-Recipient: rfc822; friend@remote.example
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <friend@remote.example>: mailbox unavailable

--b1--
"""


def test_verp_return_path_and_async_bounce(roost_config: RoostConfig, network: Network) -> None:
    """Outbound mail carries a VERP return path; a DSN later sent to it suppresses the address
    for the sender's domain and is not stored in any mailbox."""
    mx = network.add_mx("remote.example", "127.0.0.2", accepts_all())
    config = relay_config(roost_config, network)
    config.delivery.verp_domain = "roost.test"
    with running_server(config) as server:
        send(server, ["friend@remote.example"], "verp")
        (got,) = wait_for(lambda: mx.messages, what="delivery")
        assert got.sender.startswith("bounces+")
        assert parse_verp(got.sender) == (ALICE, "friend@remote.example")
        dsn = ASYNC_BOUNCE.format(to=got.sender).replace("\n", "\r\n").encode()
        with smtplib.SMTP("127.0.0.1", server.port(), timeout=30) as client:
            client.sendmail("", [got.sender], dsn)
        found = server.store.find_suppression("roost.test", "friend@remote.example")
        assert found is not None
        assert found.source == "dsn"
        assert server.inbox(ALICE) == []


def test_delay_warning_once(roost_config: RoostConfig, network: Network) -> None:
    """Still deferred after delivery.retry.delay_warning: one "delayed" DSN, not one per retry."""
    network.add_mx("remote.example", "127.0.0.2", temp_fail_then_accept(1000))
    config = relay_config(roost_config, network)
    config.delivery.retry.delay_warning = 1.0
    with running_server(config) as server:
        with server.submission() as client:
            client.sendmail(ALICE, ["friend@remote.example"],
                            make_message(ALICE, "friend@remote.example", "slow"),
                            rcpt_options=["NOTIFY=DELAY,FAILURE"])  # fmt: skip
        (dsn,) = wait_for(lambda: server.inbox(ALICE), what="the delay warning")
        assert b"Action: delayed" in server.message_bytes(dsn)
        (entry,) = server.store.list_queue()
        wait_for(lambda: server.store.list_attempts(entry.queue_id)[2:], what="two more tries")
        assert len(server.inbox(ALICE)) == 1


def test_source_address_per_sender_domain(roost_config: RoostConfig, network: Network) -> None:
    """delivery.source_addresses picks the local IP mail from a sender domain leaves from."""
    mx = network.add_mx("remote.example", "127.0.0.2", accepts_all())
    config = relay_config(roost_config, network)
    config.delivery.source_addresses = {"roost.test": "127.0.0.9"}
    with running_server(config) as server:
        send(server, ["friend@remote.example"], "from a chosen address")
        (got,) = wait_for(lambda: mx.messages, what="delivery")
    assert got.peer == "127.0.0.9"


def test_ipv6_mx(roost_config: RoostConfig, network: Network) -> None:
    """An MX with only an AAAA record is reached over IPv6."""
    mx = network.add_mx("six.example", "::1", accepts_all())
    zones = network.dns.zones
    host = zones["six.example"]["MX"][0][1]
    zones[host] = {"AAAA": ["::1"]}
    network.dns.zones = zones
    with running_server(relay_config(roost_config, network)) as server:
        send(server, ["v6@six.example"], "over ipv6")
        (got,) = wait_for(lambda: mx.messages, what="delivery over IPv6")
    assert got.peer == "::1"


def test_per_host_rate_limit(roost_config: RoostConfig, network: Network) -> None:
    """max_messages_per_minute_per_host: past the budget, the rest waits; none is lost."""
    mx = network.add_mx("remote.example", "127.0.0.2", accepts_all())
    config = relay_config(roost_config, network)
    config.delivery.max_messages_per_minute_per_host = 2
    config.delivery.max_connections_per_domain = 1
    config.delivery.messages_per_connection = 1
    with running_server(config) as server:
        for n in range(4):
            send(server, [f"r{n}@remote.example"], f"rate {n}")
        wait_for(lambda: len(mx.messages) == 2, what="the first two")
        held = wait_for(
            lambda: [e for e in server.store.list_queue() if e.state is QueueState.DEFERRED][1:],
            what="two held back",
        )
        assert {r.last_reply for e in held for r in e.recipients} == {
            "451 4.4.5 MX hosts at their local connection or rate limit"
        }
    assert len(mx.messages) == 2
