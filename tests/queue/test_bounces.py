"""Inbound DSN parsing (real-world shapes) and VERP addresses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from roost.queue.bounces import (
    BounceReport,
    parse_dsn,
    parse_verp,
    typed_value,
    verp_address,
    verp_hash,
    verp_matches,
)
from roost.queue.dsn import DsnRecipient, build_dsn
from roost.store.types import BlobRef, QueueEntry, QueueState

POSTFIX = b"""\
From: MAILER-DAEMON@mx.remote.test (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: bounces+bob=remote.test+alice=example.test@bounce.example.test
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="ABC123"

This is a MIME-encapsulated message.

--ABC123
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

--ABC123
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.remote.test
X-Postfix-Queue-ID: 4F0A1
Arrival-Date: Mon,  4 Mar 2024 12:00:00 +0000 (UTC)

Final-Recipient: rfc822; bob@remote.test
Original-Recipient: rfc822;Bob@Remote.test
Action: failed
Status: 5.1.1
Remote-MTA: dns; [192.0.2.9]
Diagnostic-Code: smtp; 550 5.1.1 <bob@remote.test>: Recipient address
    rejected: User unknown in local recipient table

Final-Recipient: rfc822; carol@remote.test
Action: delayed
Status: 4.4.1
Diagnostic-Code: X-Postfix; connect to mx.remote.test: Connection refused

--ABC123
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

From: alice@example.test
To: bob@remote.test
Subject: hello

--ABC123--
""".replace(b"\n", b"\r\n")

SLOPPY = b"""\
From: postmaster@legacy.test
To: bounces@bounce.example.test
Content-Type: multipart/report; boundary=b1

--b1
Content-Type: text/plain

failed
--b1
content-type: message/delivery-status

reporting-mta: dns;legacy.test
final-recipient: RFC822;<Dave@Legacy.Test>
action: Failed (permanent)
status: 5.01.001 (bad destination mailbox)
diagnostic-code: smtp;550 no such user
final-recipient: rfc822;erin@legacy.test
action: failed
status: 5.2.1
--b1--
"""

BOUNCED_BOUNCE = b"""\
From: MAILER-DAEMON@x.test
To: bounces@bounce.example.test
Content-Type: multipart/report; report-type=delivery-status; boundary=outer

--outer
Content-Type: text/plain

A bounce.
--outer
Content-Type: message/delivery-status

Reporting-MTA: dns; x.test

Original-Recipient: rfc822; frank@x.test
Action: failed
Status: 5.0.0

--outer
Content-Type: message/rfc822

From: MAILER-DAEMON@y.test
Content-Type: multipart/report; report-type=delivery-status; boundary=inner

--inner
Content-Type: message/delivery-status

Final-Recipient: rfc822; inner@y.test
Action: failed
Status: 5.1.1

--inner--

--outer--
"""


def test_postfix_dsn() -> None:
    """Two recipients, folded Diagnostic-Code, Original-Recipient kept, remote MTA."""
    bob, carol = parse_dsn(POSTFIX)
    assert bob == BounceReport(
        recipient="bob@remote.test",
        action="failed",
        status="5.1.1",
        diagnostic="550 5.1.1 <bob@remote.test>: Recipient address rejected: "
        "User unknown in local recipient table",
        original_recipient="Bob@Remote.test",
        remote_mta="[192.0.2.9]",
    )
    assert carol.recipient == "carol@remote.test"
    assert carol.action == "delayed"
    assert carol.status == "4.4.1"
    assert carol.original_recipient is None
    assert carol.diagnostic.startswith("connect to mx.remote.test")


def test_sloppy_dsn() -> None:
    """Lower-case names, 'rfc822;' without space, brackets, comments, leading zeros, no blank
    line between recipients, LF line endings, no report-type parameter."""
    dave, erin = parse_dsn(SLOPPY)
    assert dave.recipient == "Dave@Legacy.Test"
    assert dave.action == "failed"
    assert dave.status == "5.1.1"
    assert dave.diagnostic == "550 no such user"
    assert erin.recipient == "erin@legacy.test"
    assert erin.status == "5.2.1"
    assert erin.diagnostic == ""


def test_only_original_recipient_and_returned_bounce_ignored() -> None:
    """Original-Recipient alone names the recipient; a DSN inside the returned message is not
    read as another report."""
    (report,) = parse_dsn(BOUNCED_BOUNCE)
    assert report.recipient == "frank@x.test"
    assert report.original_recipient == "frank@x.test"


@pytest.mark.parametrize(
    "message",
    [
        b"From: a@b.test\r\nSubject: out of office\r\n\r\nI am away.\r\n",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n"
        b"\r\nhi\r\n--x--\r\n",
        b"Content-Type: multipart/report; report-type=disposition-notification; boundary=x\r\n"
        b"\r\n--x\r\nContent-Type: message/disposition-notification\r\n\r\n"
        b"Final-Recipient: rfc822; a@b.test\r\nDisposition: manual-action/MDN-sent-manually; "
        b"displayed\r\n\r\n--x--\r\n",
        b"",
        b"\xff\xfe garbage",
    ],
)
def test_not_a_dsn(message: bytes) -> None:
    assert parse_dsn(message) == []


def _entry(sender: str) -> QueueEntry:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    return QueueEntry("Q1", QueueState.ACTIVE, sender, BlobRef("0" * 64, 1), b"", now, now, 1,
                      "", "", None, "7BIT", False, None, None)  # fmt: skip


@pytest.mark.parametrize("address", ["bob@remote.test", "zoë@remote.test"])
def test_round_trip_with_our_own_dsn(address: str) -> None:
    """What build_dsn writes, parse_dsn reads (message/delivery-status and the RFC 6533 form)."""
    rcpt = DsnRecipient(address, f"rfc822;{address}", None, "5.1.1", "failed",
                        "550 5.1.1 no such user", "mx.remote.test")  # fmt: skip
    original = b"From: alice@example.test\r\nSubject: s\r\n\r\nbody\r\n"
    dsn = build_dsn(_entry("alice@example.test"), original, [rcpt], reporting_mta="mx.roost.test",
                    kind="failed", now=datetime.now(UTC))  # fmt: skip
    assert dsn is not None
    (report,) = parse_dsn(dsn)
    assert report.recipient == address
    assert report.original_recipient == address
    assert (report.action, report.status) == ("failed", "5.1.1")
    assert report.diagnostic == "550 5.1.1 no such user"
    assert report.remote_mta == "mx.remote.test"


def test_typed_value() -> None:
    assert typed_value("rfc822; bob@x.test") == "bob@x.test"
    assert typed_value("RFC822;<bob@x.test>") == "bob@x.test"
    assert typed_value("bob@x.test") == "bob@x.test"
    assert typed_value("smtp; 550  too\t many  spaces") == "550 too many spaces"


# --- VERP ---------------------------------------------------------------------------------


def test_verp_example() -> None:
    """The documented form; '+' inside the local part is escaped so parsing stays exact."""
    address = verp_address("alice@example.test", "bob+x@Remote.TEST", "Bounce.Example.test")
    assert address == "bounces+bob%2Bx=remote.test+alice=example.test@bounce.example.test"
    assert parse_verp(address) == ("alice@example.test", "bob+x@remote.test")


@pytest.mark.parametrize(
    ("sender", "recipient"),
    [
        ("a@b.test", "c@d.test"),
        ("first.last@b.test", "x=y%z@d.test"),
        ("a+tag@b.test", "Mixed.Case@d.test"),
        ("jörg@b.test", "zoë@d.test"),
        ("a@b.test", "o'hara&co@d.test"),
    ],
)
def test_verp_round_trip(sender: str, recipient: str) -> None:
    address = verp_address(sender, recipient, "bounce.test")
    assert address.isascii()
    assert len(address.rpartition("@")[0]) <= 64
    assert parse_verp(address) == (sender, recipient.rpartition("@")[0] + "@" + "d.test")
    assert verp_matches(address, sender, recipient)
    assert not verp_matches(address, sender, "other@d.test")


def test_verp_long_addresses_use_hash() -> None:
    """Over 64 octets: a hash token; not reversible, but verifiable against the DSN's pair."""
    sender = "newsletter-department@marketing.example.test"
    recipient = "someone.with.a.long.name@subsidiary.remote.test"
    address = verp_address(sender, recipient, "bounce.test")
    local = address.rpartition("@")[0]
    assert local == "bounces+h" + verp_hash(sender, recipient)
    assert len(local) <= 64
    assert parse_verp(address) is None
    assert verp_matches(address, sender, recipient)
    assert verp_matches(address.upper(), sender.upper(), recipient)  # case-insensitive
    assert not verp_matches(address, sender, "other@subsidiary.remote.test")


@pytest.mark.parametrize(
    "address",
    [
        "alice@example.test",
        "bounces@bounce.test",
        "bounces+onlyone=d.test@bounce.test",
        "bounces+a=b+c@bounce.test",
        "bounces+a=b+c=d+e=f@bounce.test",
        "bounces+=d.test+a=b.test@bounce.test",
        "bounces+a%FF=d.test+a=b.test@bounce.test",
        "other+a=b.test+c=d.test@bounce.test",
    ],
)
def test_parse_verp_rejects(address: str) -> None:
    assert parse_verp(address) is None


def test_parse_verp_percent_without_hex_is_literal() -> None:
    """'%ZZ' is not an escape Roost writes; it is read literally rather than failing."""
    assert parse_verp("bounces+a%ZZ=d.test+a=b.test@bounce.test") == ("a@b.test", "a%ZZ@d.test")


def test_verp_custom_prefix() -> None:
    address = verp_address("a@b.test", "c@d.test", "bounce.test", prefix="rp")
    assert address == "rp+c=d.test+a=b.test@bounce.test"
    assert parse_verp(address, prefix="rp") == ("a@b.test", "c@d.test")
    assert parse_verp(address) is None
