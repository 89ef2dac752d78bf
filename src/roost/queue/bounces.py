"""Bounces coming back to Roost: DSN parsing (RFC 3464) and VERP return paths.

`parse_dsn()` reads the machine part of a delivery report sent to Roost's bounce address, so
the queue manager can suppress recipients that hard-bounce after the remote MX first accepted
the message (asynchronous bounces). Real DSNs vary more than RFC 3464 says, so the parser is
lenient: field names in any case, "rfc822;addr" without the space, angle brackets around
addresses, comments after Action and Status, a missing Original-Recipient, a missing blank line
between recipient groups. Only multipart/report messages with a message/delivery-status (or
RFC 6533 message/global-delivery-status) part count; a returned message inside the report is
never searched, so a bounce of a bounce is not mistaken for a new one.

VERP (variable envelope return path) puts the recipient into the envelope sender of each
outgoing copy, so even a non-standard bounce ("your mail to ... failed" as plain text) names the
address that failed. Encoding, chosen to be reversible and ASCII-only:

    bounces+<recipient token>+<sender token>@<bounce domain>
    token = <local part, escaped> "=" <domain, escaped>

Escaping keeps [A-Za-z0-9._-] and writes every other octet of the UTF-8 form as %XX (so "+",
"=" and "%" inside addresses never clash with the separators, and SMTPUTF8 addresses become
plain ASCII). Example: bob+x@remote.test from alice@example.test ->
"bounces+bob%2Bx=remote.test+alice=example.test@bounce.example.test".

RFC 5321 §4.5.3.1.1 limits a local part to 64 octets, and long addresses do not fit. Then the
local part is "bounces+h" followed by 26 base32 characters of SHA-256(sender, recipient):
`parse_verp()` cannot reverse it (it returns None); the DSN's Final-Recipient names the
recipient instead, and `verp_matches()` checks that a bounce really is about the pair it claims.
The trade-off: no lookup table to store and expire, at the price of needing a standard DSN for
those long addresses. Neither form is a secret: anyone who knows a sender and a recipient can
forge a bounce, so suppression acts on hard-bounce status codes only (queue/suppression.py).
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message

VERP_PREFIX = "bounces"
MAX_LOCAL = 64  # RFC 5321 §4.5.3.1.1
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_REPORT_TYPES = ("message/delivery-status", "message/global-delivery-status")
_RECIPIENT_FIELDS = ("original-recipient", "final-recipient")


@dataclass(frozen=True, slots=True)
class BounceReport:
    """One recipient block of a DSN.

    `recipient` is Final-Recipient, else Original-Recipient; `action` lower-case ("failed",
    "delayed", "delivered", "relayed", "expanded" or "" when missing); `status` the enhanced
    code without leading zeros ("" when missing); `diagnostic` the reply without its type
    ("550 5.1.1 user unknown").
    """

    recipient: str
    action: str
    status: str
    diagnostic: str
    original_recipient: str | None = None
    remote_mta: str = ""


# --- DSN parsing --------------------------------------------------------------------------


def parse_dsn(message: bytes) -> list[BounceReport]:
    """The recipient reports of a multipart/report DSN; [] for anything else."""
    try:
        text = _status_text(message)
    except Exception:  # the stdlib parser is lenient; this is a last resort for odd input
        return []
    if text is None:
        return []
    return [r for r in (_report(f) for f in _recipient_groups(text)) if r]


def _status_text(message: bytes) -> str | None:
    msg = email.message_from_bytes(message, policy=email.policy.compat32)
    if msg.get_content_type() != "multipart/report":
        return None
    part = _status_part(msg)
    return None if part is None else _part_text(part)


def _children(msg: Message) -> Iterator[Message]:
    """Parts of multiparts, depth first, without entering message/* (a returned message)."""
    payload = msg.get_payload()
    if not msg.is_multipart() or not isinstance(payload, list):
        return
    for child in payload:
        if not isinstance(child, Message):
            continue
        yield child
        if child.get_content_maintype() == "multipart":
            yield from _children(child)


def _status_part(msg: Message) -> Message | None:
    for child in _children(msg):
        if child.get_content_type() in _REPORT_TYPES:
            return child
    return None


def _part_text(part: Message) -> str:
    """The delivery-status text, whatever shape the stdlib parser gave it.

    message/delivery-status comes back as a list of header blocks, message/global-delivery-
    status as one embedded message, and a transfer-encoded body as bytes.
    """
    payload = part.get_payload()
    if isinstance(payload, list):
        blocks = b"\n".join(m.as_bytes() for m in payload if isinstance(m, Message))
        return blocks.decode("utf-8", "replace")
    raw = part.get_payload(decode=True)
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace")
    return str(payload)


def _fields(text: str) -> Iterator[tuple[str, str]]:
    """(lower-case name, unfolded value) pairs; blank lines and junk lines are skipped."""
    name, value = "", ""
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and name:
            value += " " + line.strip()
            continue
        if name:
            yield name, value.strip()
            name = ""
        head, sep, rest = line.partition(":")
        if sep and head.strip() and " " not in head.strip():
            name, value = head.strip().lower(), rest
    if name:
        yield name, value.strip()


def _recipient_groups(text: str) -> list[dict[str, str]]:
    """Per-recipient field groups. A group starts at Original-/Final-Recipient (in either order:
    RFC 3464 puts Original first, Postfix Final) unless the group so far has only the other of
    the two, so a missing blank line between groups, or a missing Original-Recipient, does not
    merge two recipients. Per-message fields before the first recipient are dropped."""
    groups: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for name, value in _fields(text):
        if name in _RECIPIENT_FIELDS and _starts_group(current, name):
            current = {}
            groups.append(current)
        if current is not None:
            current.setdefault(name, value)
    return groups


def _starts_group(current: dict[str, str] | None, name: str) -> bool:
    if current is None or name in current:
        return True
    return any(field not in _RECIPIENT_FIELDS for field in current)


def typed_value(value: str) -> str:
    """'rfc822; <Bob@x>' / 'rfc822;bob@x' / 'bob@x' -> the address (or text) without type."""
    _, sep, rest = value.partition(";")
    text = rest if sep else value
    return " ".join(text.split()).strip("<> ")


def _report(fields: dict[str, str]) -> BounceReport | None:
    original = typed_value(fields.get("original-recipient", "")) or None
    recipient = typed_value(fields.get("final-recipient", "")) or original
    if not recipient:
        return None
    status = _STATUS.search(fields.get("status", ""))
    return BounceReport(
        recipient=recipient,
        action=(fields.get("action", "").split() or [""])[0].lower(),
        status=".".join(str(int(g)) for g in status.groups()) if status else "",
        diagnostic=typed_value(fields.get("diagnostic-code", "")),
        original_recipient=original,
        remote_mta=typed_value(fields.get("remote-mta", "")),
    )


# --- VERP ---------------------------------------------------------------------------------


def _escape(text: str) -> str:
    return "".join(chr(b) if b in _SAFE else f"%{b:02X}" for b in text.encode("utf-8"))


def _unescape(text: str) -> str:
    raw = bytearray()
    pos = 0
    for match in _ESCAPE.finditer(text):
        raw += text[pos : match.start()].encode("ascii")
        raw.append(int(match.group(1), 16))
        pos = match.end()
    raw += text[pos:].encode("ascii")
    return raw.decode("utf-8")


def _token(address: str) -> str:
    local, _, domain = address.strip("<> ").rpartition("@")
    return f"{_escape(local)}={_escape(domain.lower())}"


def _untoken(token: str) -> str | None:
    local, sep, domain = token.partition("=")
    if not sep or not local or not domain or "=" in domain:
        return None
    return f"{_unescape(local)}@{_unescape(domain)}"


def verp_hash(sender: str, recipient: str) -> str:
    """26 base32 characters (130 bits) naming the pair, for addresses too long to encode."""
    pair = f"{sender.strip('<> ').lower()}\0{recipient.strip('<> ').lower()}".encode()
    return base64.b32encode(hashlib.sha256(pair).digest()).decode().lower()[:26]


def verp_address(sender: str, recipient: str, bounce_domain: str, prefix: str = VERP_PREFIX) -> str:
    """The return path for the copy of `sender`'s message to `recipient` (see module doc)."""
    local = f"{prefix}+{_token(recipient)}+{_token(sender)}"
    if len(local.encode()) > MAX_LOCAL:
        local = f"{prefix}+h{verp_hash(sender, recipient)}"
    return f"{local}@{bounce_domain.lower()}"


def _verp_body(address: str, prefix: str) -> str | None:
    """The part after "<prefix>+" of the local part, or None if it is not a VERP address."""
    local = address.strip("<> ").rpartition("@")[0]
    head = f"{prefix}+"
    return local[len(head) :] if local.lower().startswith(head.lower()) else None


def parse_verp(address: str, prefix: str = VERP_PREFIX) -> tuple[str, str] | None:
    """(sender, recipient) from a reversible VERP address; None for any other address,
    including the hashed form (use verp_matches with the DSN's recipient for that)."""
    body = _verp_body(address, prefix)
    if body is None or body.count("+") != 1:
        return None
    rcpt_token, sender_token = body.split("+")
    try:
        recipient, sender = _untoken(rcpt_token), _untoken(sender_token)
    except (UnicodeDecodeError, UnicodeEncodeError):
        return None
    if recipient is None or sender is None:
        return None
    return sender, recipient


def verp_matches(address: str, sender: str, recipient: str, prefix: str = VERP_PREFIX) -> bool:
    """Is `address` the VERP return path Roost would use for (sender, recipient)?"""
    body = _verp_body(address, prefix)
    if body is None:
        return False
    if body[:1].lower() == "h" and "+" not in body:
        return body[1:].lower() == verp_hash(sender, recipient)
    parsed = parse_verp(address, prefix)
    if parsed is None:
        return False
    return (parsed[0].lower(), parsed[1].lower()) == (sender.lower(), recipient.lower())
