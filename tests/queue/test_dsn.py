"""DSNs Roost sends: parsed back with the stdlib email package, structure and every field."""

from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import Message

import pytest

from roost.queue.dsn import DsnRecipient, build_dsn, transport_needs, wants_report
from roost.store.types import BlobRef, QueueEntry, QueueState

NOW = datetime(2024, 3, 4, 12, 30, 0, tzinfo=UTC)
ARRIVED = NOW - timedelta(hours=5)
ORIGINAL = (
    b"Received: from client by mx.roost.test; Mon, 4 Mar 2024 07:30:00 +0000\r\n"
    b"From: Alice <alice@example.test>\r\n"
    b"To: bob@remote.test\r\n"
    b"Subject: quarterly numbers\r\n"
    b"Message-ID: <orig-1@example.test>\r\n"
    b"\r\n"
    b"The numbers are attached.\r\n"
)


def make_entry(**changes: object) -> QueueEntry:
    entry = QueueEntry(
        queue_id="Q123",
        state=QueueState.DEFERRED,
        sender="alice@example.test",
        blob=BlobRef("0" * 64, len(ORIGINAL)),
        prefix=b"",
        received_at=ARRIVED,
        next_attempt=NOW,
        attempts=3,
        client_ip="192.0.2.1",
        helo="client",
        auth_user="alice@example.test",
        body_type="7BIT",
        smtputf8=False,
        ret=None,
        envid=None,
    )
    return replace(entry, **changes)  # type: ignore[arg-type]


def failed(address: str = "bob@remote.test", **changes: object) -> DsnRecipient:
    rcpt = DsnRecipient(
        address=address,
        orcpt=None,
        notify=None,
        status="5.1.1",
        action="failed",
        diagnostic="550 5.1.1 <bob@remote.test>: Recipient address rejected: User unknown",
        remote_mta="mx1.remote.test",
    )
    return replace(rcpt, **changes)  # type: ignore[arg-type]


def build(entry: QueueEntry | None = None, original: bytes = ORIGINAL, **kw: object) -> bytes:
    args: dict[str, object] = {"reporting_mta": "mx.roost.test", "kind": "failed", "now": NOW}
    args.update(kw)
    outcomes = args.pop("outcomes", [failed()])
    dsn = build_dsn(entry or make_entry(), original, outcomes, **args)  # type: ignore[arg-type]
    assert dsn is not None
    return dsn


def parse(dsn: bytes) -> Message:
    return email.message_from_bytes(dsn, policy=email.policy.default)  # type: ignore[return-value]


def parts(msg: Message) -> list[Message]:
    payload = msg.get_payload()
    assert isinstance(payload, list)
    return payload


def status_groups(msg: Message) -> list[Message]:
    """The per-message block and one block per recipient of the delivery-status part."""
    return parts(parts(msg)[1])


def test_failed_structure_and_fields() -> None:
    """Top-level header, three parts, every per-message and per-recipient field."""
    dsn = build(make_entry(envid="ENV-42"), outcomes=[failed(orcpt="rfc822;Bob@Remote.test")])
    msg = parse(dsn)
    assert msg["From"] == "Mail Delivery System <MAILER-DAEMON@mx.roost.test>"
    assert msg["To"] == "alice@example.test"
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["Date"].datetime == NOW
    assert msg["Message-ID"].endswith("@mx.roost.test>")
    assert "Q123" in msg["Message-ID"]
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    text, status, returned = parts(msg)
    assert text.get_content_type() == "text/plain"
    body = text.get_content()
    assert "could not be delivered" in body
    assert "<bob@remote.test>:" in body
    assert "User unknown (host mx1.remote.test said)" in body
    assert "Queue ID: Q123" in body
    assert status.get_content_type() == "message/delivery-status"
    per_message, per_rcpt = status_groups(msg)
    assert per_message["Reporting-MTA"] == "dns; mx.roost.test"
    assert per_message["Original-Envelope-Id"] == "ENV-42"
    assert email.utils.parsedate_to_datetime(per_message["Arrival-Date"]) == ARRIVED
    assert per_rcpt["Original-Recipient"] == "rfc822; Bob@Remote.test"
    assert per_rcpt["Final-Recipient"] == "rfc822; bob@remote.test"
    assert per_rcpt["Action"] == "failed"
    assert per_rcpt["Status"] == "5.1.1"
    assert per_rcpt["Remote-MTA"] == "dns; mx1.remote.test"
    assert per_rcpt["Diagnostic-Code"] == (
        "smtp; 550 5.1.1 <bob@remote.test>: Recipient address rejected: User unknown"
    )
    assert email.utils.parsedate_to_datetime(per_rcpt["Last-Attempt-Date"]) == NOW
    assert per_rcpt["Will-Retry-Until"] is None
    assert returned.get_content_type() == "message/rfc822"
    (inner,) = parts(returned)
    assert inner["Subject"] == "quarterly numbers"
    assert inner.get_content().strip() == "The numbers are attached."
    assert dsn.endswith(b"--\r\n")
    assert b"\n" not in dsn.replace(b"\r\n", b"")  # CRLF only
    assert max(len(line) for line in dsn.split(b"\r\n")) <= 998


def test_optional_fields_absent() -> None:
    """No ENVID, ORCPT, remote MTA or diagnostic: those fields are left out, not empty."""
    dsn = build(outcomes=[failed(remote_mta="", diagnostic="", status="")])
    per_message, per_rcpt = status_groups(parse(dsn))
    assert per_message["Original-Envelope-Id"] is None
    for name in ("Original-Recipient", "Remote-MTA", "Diagnostic-Code"):
        assert per_rcpt[name] is None
    assert per_rcpt["Status"] == "5.0.0"  # a missing or malformed status gets the class default
    assert "status 5.0.0" in parts(parse(dsn))[0].get_content()


def test_several_recipients() -> None:
    outcomes = [failed("a@remote.test"), failed("b@remote.test", status="5.2.1")]
    groups = status_groups(parse(build(outcomes=outcomes)))
    assert [g["Final-Recipient"] for g in groups[1:]] == [
        "rfc822; a@remote.test",
        "rfc822; b@remote.test",
    ]
    assert groups[2]["Status"] == "5.2.1"


def test_delayed() -> None:
    """Delay report: subject, Will-Retry-Until, headers only returned."""
    until = ARRIVED + timedelta(days=5)
    rcpt = failed(action="delayed", status="4.4.1", diagnostic="421 4.4.1 try later")
    msg = parse(build(kind="delayed", outcomes=[rcpt], retry_until=until))
    assert msg["Subject"] == "Delayed Mail (still being retried)"
    text, _, returned = parts(msg)
    assert "will keep trying until" in text.get_content()
    _, per_rcpt = status_groups(msg)
    assert per_rcpt["Action"] == "delayed"
    assert per_rcpt["Status"] == "4.4.1"
    assert email.utils.parsedate_to_datetime(per_rcpt["Will-Retry-Until"]) == until
    assert returned.get_content_type() == "text/rfc822-headers"


def test_delivered_only_when_success_requested() -> None:
    """RFC 3461 §4.1: a success report needs NOTIFY=SUCCESS."""
    ok = failed(action="delivered", status="2.0.0", diagnostic="250 2.0.0 queued as X", notify=None)
    entry = make_entry()
    kw = {"reporting_mta": "mx.roost.test", "kind": "delivered", "now": NOW}
    assert build_dsn(entry, ORIGINAL, [ok], **kw) is None  # type: ignore[arg-type]
    ok = replace(ok, notify="SUCCESS,FAILURE")
    msg = parse(build(kind="delivered", outcomes=[ok]))
    assert msg["Subject"] == "Successful Mail Delivery Report"
    _, per_rcpt = status_groups(msg)
    assert per_rcpt["Action"] == "delivered"
    assert per_rcpt["Status"] == "2.0.0"
    assert parts(msg)[2].get_content_type() == "text/rfc822-headers"


def test_null_sender_never_bounced() -> None:
    """RFC 5321 §6.1: no DSN about a message with the null reverse-path."""
    for sender in ("", "<>"):
        entry = make_entry(sender=sender)
        kw = {"reporting_mta": "mx.roost.test", "kind": "failed", "now": NOW}
        assert build_dsn(entry, ORIGINAL, [failed()], **kw) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("notify", "action", "expected"),
    [
        ("NEVER", "failed", False),
        ("never", "delayed", False),
        (None, "failed", True),
        (None, "delayed", True),
        (None, "delivered", False),
        ("", "failed", True),
        ("SUCCESS", "failed", False),
        ("SUCCESS", "delivered", True),
        ("FAILURE", "delayed", False),
        ("DELAY,FAILURE", "delayed", True),
        ("success, failure", "failed", True),
    ],
)
def test_wants_report(notify: str | None, action: str, expected: bool) -> None:
    assert wants_report(notify, action) is expected  # type: ignore[arg-type]


def test_notify_never_gives_nothing_and_filters() -> None:
    """NEVER for all: no DSN; for some: only the others are reported."""
    kw = {"reporting_mta": "mx.roost.test", "kind": "failed", "now": NOW}
    never = failed(notify="NEVER")
    assert build_dsn(make_entry(), ORIGINAL, [never], **kw) is None  # type: ignore[arg-type]
    groups = status_groups(parse(build(outcomes=[never, failed("c@remote.test")])))
    assert [g["Final-Recipient"] for g in groups[1:]] == ["rfc822; c@remote.test"]


def test_ret_hdrs() -> None:
    """RET=HDRS: only the header section, as text/rfc822-headers (RFC 6522 §4)."""
    msg = parse(build(make_entry(ret="HDRS")))
    returned = parts(msg)[2]
    assert returned.get_content_type() == "text/rfc822-headers"
    content = returned.get_payload(decode=True)
    assert isinstance(content, bytes)
    assert b"Subject: quarterly numbers" in content
    assert b"The numbers are attached" not in content


def test_ret_full_explicit() -> None:
    assert parts(parse(build(make_entry(ret="FULL"))))[2].get_content_type() == "message/rfc822"


def test_large_message_returns_headers_only() -> None:
    """Over max_return the full content is not returned, and the text says so."""
    big = ORIGINAL + b"x" * 200 + b"\r\n"
    msg = parse(build(original=big, max_return=len(big) - 1))
    text, _, returned = parts(msg)
    assert returned.get_content_type() == "text/rfc822-headers"
    assert "too large to return in full" in text.get_content()


def test_eight_bit_body() -> None:
    """An 8BITMIME original is returned as is, 8bit; the DSN needs BODY=8BITMIME only."""
    original = ORIGINAL.replace(b"The numbers", "Die Zahlen für".encode())
    dsn = build(make_entry(body_type="8BITMIME"), original)
    returned = parts(parse(dsn))[2]
    assert returned.get_content_type() == "message/rfc822"
    assert returned["Content-Transfer-Encoding"] == "8bit"
    assert original in dsn
    assert transport_needs(dsn) == ("8BITMIME", False)


def test_utf8_header_and_addresses() -> None:
    """SMTPUTF8 mail: RFC 6533 global parts, utf-8 address type, UTF-8 To."""
    original = (
        "From: Jörg <jörg@example.test>\r\nTo: zoë@remote.test\r\nSubject: Grüße\r\n\r\nHallo\r\n"
    )
    entry = make_entry(sender="jörg@example.test", smtputf8=True)
    rcpt = failed("zoë@remote.test", orcpt="utf-8;zoë@remote.test")
    dsn = build(entry, original.encode(), outcomes=[rcpt])
    msg = parse(dsn)
    assert msg["To"] == "jörg@example.test"
    text, status, returned = parts(msg)
    assert status.get_content_type() == "message/global-delivery-status"
    assert returned.get_content_type() == "message/global"
    report = dsn.split(b"Content-Type: message/global-delivery-status")[1].split(b"\r\n--=_")[0]
    assert "\r\nFinal-Recipient: utf-8; zoë@remote.test\r\n".encode() in report
    assert "\r\nOriginal-Recipient: utf-8; zoë@remote.test\r\n".encode() in report
    assert b"\r\nAction: failed\r\n" in report
    assert "<zoë@remote.test>:" in text.get_content()
    assert original.encode() in dsn
    assert transport_needs(dsn) == ("8BITMIME", True)


def test_ascii_dsn_needs_nothing() -> None:
    assert transport_needs(build()) == ("7BIT", False)


def test_remote_text_cannot_inject_fields() -> None:
    """A hostile multi-line reply stays one Diagnostic-Code line."""
    evil = "550 5.1.1 no\r\nAction: delivered\r\n\r\nFinal-Recipient: rfc822; x@y"
    groups = status_groups(parse(build(outcomes=[failed(diagnostic=evil, remote_mta="a\r\nb")])))
    assert len(groups) == 2
    assert groups[1]["Action"] == "failed"
    assert groups[1]["Remote-MTA"] == "dns; a b"
    assert groups[1]["Diagnostic-Code"].startswith("smtp; 550 5.1.1 no Action: delivered")


def test_boundary_not_in_original() -> None:
    """The boundary is chosen so the returned message cannot end the multipart early."""
    dsn = build()
    boundary = parse(dsn).get_boundary()
    assert boundary is not None
    assert boundary.encode() not in ORIGINAL
    assert dsn.count(b"--" + boundary.encode() + b"\r\n") == 3
