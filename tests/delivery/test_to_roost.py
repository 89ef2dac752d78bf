"""deliver() against a real running Roost server: the message lands in the recipient's INBOX."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from roost.config import RoostConfig
from roost.delivery.smtp_session import (
    Endpoint,
    OutboundMessage,
    OutboundRecipient,
    TlsRequirement,
    deliver,
)
from tests.delivery.conftest import FAST
from tests.integration.harness import (
    ALICE,
    RunningServer,
    client_tls,
    prepare_config,
    running_server,
)


@pytest.fixture
def roost(roost_config: RoostConfig) -> Iterator[RunningServer]:
    with running_server(prepare_config(roost_config)) as running:
        yield running


def test_deliver_to_roost_mx(roost: RunningServer) -> None:
    """Over STARTTLS to Roost's MX listener: 250 for a local user, then the mail is in INBOX."""
    content = b"From: a@example.com\r\nTo: alice@roost.test\r\nSubject: outbound\r\n\r\nHi.\r\n"
    message = OutboundMessage(
        "Q1",
        "a@example.com",
        (OutboundRecipient(ALICE), OutboundRecipient("nobody@roost.test")),
        content,
    )
    endpoint = Endpoint("localhost", "127.0.0.1", roost.port("mx"))
    tls = TlsRequirement("encrypt", client_tls(), "localhost")
    report = asyncio.run(
        deliver(endpoint, [message], helo_name="client.example", tls=tls, timeouts=FAST)
    )
    alice, nobody = report.results[0].recipients
    assert (alice.status, alice.code) == ("delivered", 250)
    assert (nobody.status, nobody.enhanced) == ("bounced", "5.1.1")
    assert report.tls is not None
    inbox = roost.inbox(ALICE)
    assert len(inbox) == 1
    stored = roost.message_bytes(inbox[0])
    assert stored.endswith(content)
    assert b"Subject: outbound" in stored
