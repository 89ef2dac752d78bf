"""Delivery status notifications Roost sends (RFC 3464 format, RFC 3461 semantics, RFC 6522).

`build_dsn()` turns a queue entry and its recipients' outcomes into one complete RFC 5322
message: a multipart/report with a text part for people, a message/delivery-status part for
programs, and the returned message (or its header). The caller injects it with the null
reverse-path "<>" (RFC 5321 §4.5.5), so a DSN about a DSN can never be produced.

What decides whether there is a DSN at all:
- The envelope sender is "": no DSN, never (RFC 5321 §6.1: a bounce must not bounce).
- Each recipient's NOTIFY (RFC 3461 §4.1): NEVER -> no report; absent -> FAILURE, and DELAY
  at the MTA's discretion (Roost sends one delay warning, if retry.delay_warning is set);
  a "delivered" report only for SUCCESS. With no recipient left, there is no DSN.

What is returned (RFC 3461 §4.3): RET applies to failure reports. RET=HDRS or a delay/success
report: the header section only (text/rfc822-headers, RFC 6522 §4). RET=FULL or absent: the whole
message as message/rfc822, unless it is larger than `max_return` (default 1 MiB), then the
header only: a bounce that is as big as the original doubles the cost of a failure.

Internationalised mail (RFC 6531): when an address or the returned header is UTF-8, the parts are
the RFC 6533 ones: message/global-delivery-status with "utf-8" address types, and
message/global or message/global-headers (RFC 6532 §3.7); `transport_needs()` says which SMTP
extensions sending the result requires.
"""

from __future__ import annotations

import email
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from email.utils import format_datetime
from typing import Literal

from roost.store.types import QueueEntry

Kind = Literal["failed", "delayed", "delivered"]
MAX_RETURN = 1024 * 1024

SUBJECTS: dict[str, str] = {
    "failed": "Undelivered Mail Returned to Sender",
    "delayed": "Delayed Mail (still being retried)",
    "delivered": "Successful Mail Delivery Report",
}
# RFC 3461 §4.1: the NOTIFY keyword that asks for each kind of report.
_NOTIFY_FOR: dict[str, str] = {"failed": "FAILURE", "delayed": "DELAY", "delivered": "SUCCESS"}
_DEFAULT_NOTIFY = frozenset({"FAILURE", "DELAY"})
_DEFAULT_STATUS: dict[str, str] = {"failed": "5.0.0", "delayed": "4.0.0", "delivered": "2.0.0"}
_STATUS = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")
_MAX_FIELD = 900  # keep each generated line well under RFC 5322's 998 octets


@dataclass(frozen=True, slots=True)
class DsnRecipient:
    """One recipient's line in a report.

    `status` is the enhanced code (RFC 3463) of the outcome, `diagnostic` the remote reply as
    received ("550 5.1.1 no such user"), `remote_mta` the host that gave it ("" when the failure
    was local, e.g. no MX). `orcpt` and `notify` come from the queue recipient (RFC 3461).
    `last_attempt` defaults to the report's time.
    """

    address: str
    orcpt: str | None
    notify: str | None
    status: str
    action: Kind
    diagnostic: str = ""
    remote_mta: str = ""
    last_attempt: datetime | None = None


def wants_report(notify: str | None, action: Kind) -> bool:
    """RFC 3461 §4.1: may a report with this action be sent to a recipient with this NOTIFY?"""
    if notify is None or not notify.strip():
        requested = _DEFAULT_NOTIFY
    else:
        requested = frozenset(k.strip().upper() for k in notify.split(","))
    if "NEVER" in requested:
        return False
    return _NOTIFY_FOR[action] in requested


def build_dsn(
    entry: QueueEntry,
    original: bytes,
    outcomes: Sequence[DsnRecipient],
    *,
    reporting_mta: str,
    kind: Kind,
    now: datetime,
    retry_until: datetime | None = None,
    max_return: int = MAX_RETURN,
) -> bytes | None:
    """The DSN to send to entry.sender, or None when no report is due (see module doc).

    `original` is the queued message as it would be delivered (prefix + blob). `retry_until`
    fills Will-Retry-Until in a delay report (arrival + retry.max_lifetime).
    """
    if not entry.sender.strip("<> "):
        return None
    recipients = [r for r in outcomes if wants_report(r.notify, r.action)]
    if not recipients:
        return None
    returned = _returned_part(entry, original, kind, max_return)
    utf8 = _needs_utf8(entry, recipients) or returned.utf8
    boundary = _boundary(original)
    parts = [
        _text_part(entry, recipients, kind, reporting_mta, retry_until, returned.truncated),
        _status_part(entry, recipients, reporting_mta, now, retry_until, utf8),
        returned.data,
    ]
    header = _top_header(entry, kind, reporting_mta, now, boundary)
    body = b"".join(b"--" + boundary + b"\r\n" + p for p in parts) + b"--" + boundary + b"--\r\n"
    return header + b"\r\n" + _preamble() + body


@dataclass(frozen=True, slots=True)
class _Returned:
    data: bytes  # the MIME part: its header, a blank line, its content
    utf8: bool  # the returned header has non-ASCII octets
    truncated: bool  # full content was asked for (or allowed) but only the header is returned


def _split_message(original: bytes) -> tuple[bytes, bytes]:
    """(header section with its final CRLF, body); the whole input is header if no blank line."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        at = original.find(sep)
        if at >= 0:
            cut = at + len(sep) // 2
            return original[:cut], original[at + len(sep) :]
    return original if original.endswith(b"\n") else original + b"\r\n", b""


def _returned_part(entry: QueueEntry, original: bytes, kind: Kind, max_return: int) -> _Returned:
    header, _ = _split_message(original)
    utf8 = not header.isascii()
    ret = (entry.ret or "").upper()
    full_wanted = kind == "failed" and ret != "HDRS"
    if full_wanted and len(original) <= max_return:
        ctype = b"message/global" if utf8 else b"message/rfc822"
        content = original if original.endswith(b"\n") else original + b"\r\n"
        cte = b"7bit" if content.isascii() else b"8bit"
        head = b"Content-Type: " + ctype + b"\r\nContent-Transfer-Encoding: " + cte + b"\r\n"
        return _Returned(head + b"\r\n" + content, utf8, False)
    ctype = b"message/global-headers" if utf8 else b"text/rfc822-headers"
    cte = b"8bit" if utf8 else b"7bit"
    head = b"Content-Type: " + ctype + b"\r\nContent-Transfer-Encoding: " + cte + b"\r\n"
    return _Returned(head + b"\r\n" + header, utf8, full_wanted)


def _needs_utf8(entry: QueueEntry, recipients: Iterable[DsnRecipient]) -> bool:
    """UTF-8 in the sender or a recipient address: RFC 6533 parts are needed."""
    texts = [entry.sender, *(r.address for r in recipients), *(r.orcpt or "" for r in recipients)]
    return not all(t.isascii() for t in texts)


def _boundary(original: bytes) -> bytes:
    """A boundary that does not occur in the returned message (RFC 2046 §5.1.1)."""
    while True:
        boundary = b"=_roost_dsn_" + secrets.token_hex(12).encode()
        if boundary not in original:
            return boundary


def _one_line(text: str, limit: int = _MAX_FIELD) -> str:
    """Field values from remote replies and the envelope: no line breaks (header injection),
    bounded length."""
    return " ".join(text.split())[:limit]


def _host(reporting_mta: str) -> str:
    return _one_line(reporting_mta, 255) or "localhost"


def _top_header(
    entry: QueueEntry, kind: Kind, reporting_mta: str, now: datetime, boundary: bytes
) -> bytes:
    host = _host(reporting_mta)
    token = secrets.token_hex(6)
    lines = [
        f"From: Mail Delivery System <MAILER-DAEMON@{host}>",
        f"To: <{_one_line(entry.sender.strip('<>'), 254)}>",
        f"Subject: {SUBJECTS[kind]}",
        f"Date: {format_datetime(now)}",
        f"Message-ID: <dsn.{entry.queue_id}.{token}@{host}>",
        # RFC 3834 §5: marks the message as automatic, so vacation responders stay quiet.
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        "Content-Type: multipart/report; report-type=delivery-status;",
        f'\tboundary="{boundary.decode()}"',
    ]
    return "".join(line + "\r\n" for line in lines).encode()


def _preamble() -> bytes:
    return b"This is a MIME-encapsulated message (a delivery status notification).\r\n\r\n"


def _intro(kind: Kind, host: str, retry_until: datetime | None, truncated: bool) -> list[str]:
    """The paragraph a person reads first: what happened and whether to do anything."""
    lines = [f"This is the mail system at host {host}.", ""]
    if kind == "failed":
        lines += [
            "Your message could not be delivered to the recipients listed below.",
            "The mail system gave up; the reason is given with each address.",
        ]
    elif kind == "delayed":
        until = f" until {format_datetime(retry_until)}" if retry_until else ""
        lines += [
            "Your message has not been delivered yet to the recipients listed below.",
            f"The mail system will keep trying{until}; you do not need to send it again.",
        ]
    else:
        lines += ["Your message was delivered to the recipients listed below, as requested."]
    if truncated:
        lines += ["", "The message was too large to return in full; its header is attached."]
    return lines


def _text_part(
    entry: QueueEntry,
    recipients: Sequence[DsnRecipient],
    kind: Kind,
    reporting_mta: str,
    retry_until: datetime | None,
    truncated: bool,
) -> bytes:
    lines = _intro(kind, _host(reporting_mta), retry_until, truncated)
    lines += ["", f"Queue ID: {entry.queue_id}", ""]
    for r in recipients:
        lines.append(f"<{_one_line(r.address, 254)}>:")
        reason = r.diagnostic or f"status {_status(r)}"
        by = f" (host {_one_line(r.remote_mta, 255)} said)" if r.remote_mta else ""
        lines.append(f"    {_one_line(reason)}{by}")
    text = "".join(line + "\r\n" for line in lines).encode()
    cte = b"7bit" if text.isascii() else b"8bit"
    head = b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: " + cte
    return head + b"\r\nContent-Description: Notification\r\n\r\n" + text


def _status(r: DsnRecipient) -> str:
    status = r.status.strip()
    return status if _STATUS.match(status) else _DEFAULT_STATUS[r.action]


def _address_field(address: str, utf8: bool) -> str:
    """RFC 3464 §2.3.2 "rfc822; addr"; RFC 6533 §3 "utf-8; addr" for a UTF-8 address."""
    kind = "utf-8" if utf8 and not address.isascii() else "rfc822"
    return f"{kind}; {_one_line(address.strip('<>'), 254)}"


def _orcpt_field(orcpt: str) -> str:
    """ORCPT as kept by the server ("type;decoded address"), shown as "type; address"."""
    addr_type, sep, address = orcpt.partition(";")
    if not sep:
        return f"rfc822; {_one_line(orcpt, 254)}"
    return f"{_one_line(addr_type, 32)}; {_one_line(address, 254)}"


def _per_message(entry: QueueEntry, reporting_mta: str) -> list[str]:
    """RFC 3464 §2.2 per-message fields."""
    fields = [f"Reporting-MTA: dns; {_host(reporting_mta)}"]
    if entry.envid:
        fields.append(f"Original-Envelope-Id: {_one_line(entry.envid, 100)}")
    fields.append(f"Arrival-Date: {format_datetime(entry.received_at)}")
    return fields


def _per_recipient(
    r: DsnRecipient, now: datetime, retry_until: datetime | None, utf8: bool
) -> list[str]:
    """RFC 3464 §2.3 per-recipient fields."""
    fields = []
    if r.orcpt:
        fields.append(f"Original-Recipient: {_orcpt_field(r.orcpt)}")
    fields += [
        f"Final-Recipient: {_address_field(r.address, utf8)}",
        f"Action: {r.action}",
        f"Status: {_status(r)}",
    ]
    if r.remote_mta:
        fields.append(f"Remote-MTA: dns; {_one_line(r.remote_mta, 255)}")
    if r.diagnostic:
        fields.append(f"Diagnostic-Code: smtp; {_one_line(r.diagnostic)}")
    fields.append(f"Last-Attempt-Date: {format_datetime(r.last_attempt or now)}")
    if r.action == "delayed" and retry_until is not None:
        fields.append(f"Will-Retry-Until: {format_datetime(retry_until)}")
    return fields


def _status_part(
    entry: QueueEntry,
    recipients: Sequence[DsnRecipient],
    reporting_mta: str,
    now: datetime,
    retry_until: datetime | None,
    utf8: bool,
) -> bytes:
    groups = [_per_message(entry, reporting_mta)]
    groups += [_per_recipient(r, now, retry_until, utf8) for r in recipients]
    text = "\r\n".join("".join(f + "\r\n" for f in g) for g in groups).encode()
    ctype = b"message/global-delivery-status" if utf8 else b"message/delivery-status"
    cte = b"7bit" if text.isascii() else b"8bit"
    head = b"Content-Type: " + ctype + b"\r\nContent-Description: Delivery report\r\n"
    return head + b"Content-Transfer-Encoding: " + cte + b"\r\n\r\n" + text


def transport_needs(dsn: bytes) -> tuple[str, bool]:
    """(BODY value, SMTPUTF8 needed) for sending `dsn`: 8BITMIME when it has any 8-bit octet
    (RFC 6152), SMTPUTF8 when its own header or a global part carries UTF-8 (RFC 6531)."""
    if dsn.isascii():
        return "7BIT", False
    header, _ = _split_message(dsn)
    parts = email.message_from_bytes(dsn).get_payload()
    types = [p.get_content_type() for p in parts if isinstance(p, Message)]
    smtputf8 = not header.isascii() or any(t.startswith("message/global") for t in types)
    return "8BITMIME", smtputf8
