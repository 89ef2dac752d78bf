"""What the outbound client may send to a given server: 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531)
and SIZE (RFC 1870) decided before MAIL FROM, so a message the server cannot take is refused
here, with the right permanent status, instead of being rejected (or mangled) after transfer.
"""

from __future__ import annotations

import base64
import email.policy
import quopri
from dataclasses import dataclass
from email.generator import BytesGenerator
from email.message import Message
from email.parser import BytesParser
from io import BytesIO
from typing import Literal

from roost.smtp.client_ehlo import Extensions
from roost.smtp.reply import Reply

# Locally generated permanent failures (the server never saw the message).
# RFC 6152 §3 / RFC 3463 X.6.3: 8-bit content for a 7-bit server that we cannot downgrade.
C554_CONVERSION_FAILED = Reply(554, "5.6.3", "Conversion required but not supported")
# RFC 6531 §3.2: internationalised mail for a server without SMTPUTF8 cannot be delivered.
C553_SMTPUTF8_UNSUPPORTED = Reply(553, "5.6.7", "SMTPUTF8 required but not offered by the server")
# RFC 1870 §6: do not send a message larger than the server's declared SIZE.
C552_EXCEEDS_SIZE = Reply(552, "5.3.4", "Message larger than the server's fixed maximum size")

BodyType = Literal["7BIT", "8BITMIME"]
_POLICY = email.policy.compat32.clone(linesep="\r\n", max_line_length=0)


@dataclass(frozen=True, slots=True)
class Prepared:
    """The bytes to send and the MAIL FROM parameters that describe them."""

    content: bytes
    body_type: BodyType  # BODY= to announce (only sent when the server offers 8BITMIME)
    smtputf8: bool  # add the SMTPUTF8 parameter (RFC 6531 §3.4)
    converted: bool = False  # 8-bit text parts were re-encoded as quoted-printable


@dataclass(frozen=True, slots=True)
class Refused:
    """The message cannot go to this server at all: every recipient fails with `reply`."""

    reply: Reply


def header_section(content: bytes) -> bytes:
    end = content.find(b"\r\n\r\n")
    if end < 0:
        end = content.find(b"\n\n")
    return content if end < 0 else content[:end]


def needs_smtputf8(content: bytes, sender: str, recipients: tuple[str, ...]) -> bool:
    """RFC 6531 §3.2: a non-ASCII envelope address or header field needs SMTPUTF8."""
    if not sender.isascii() or not all(r.isascii() for r in recipients):
        return True
    return not header_section(content).isascii()


def is_8bit(content: bytes, body_type: str) -> bool:
    return body_type.upper() == "8BITMIME" or not content.isascii()


def prepare(
    content: bytes,
    *,
    sender: str,
    recipients: tuple[str, ...],
    body_type: str,
    smtputf8: bool,
    server: Extensions,
) -> Prepared | Refused:
    """Decide how `content` goes to `server`, converting 8-bit text to 7-bit when required."""
    utf8 = smtputf8 or needs_smtputf8(content, sender, recipients)
    if utf8 and not server.smtputf8:
        return Refused(C553_SMTPUTF8_UNSUPPORTED)
    eight = is_8bit(content, body_type)
    prepared = Prepared(content, "8BITMIME" if eight else "7BIT", utf8)
    if eight and not server.eightbitmime and not utf8:
        downgraded = downgrade_to_7bit(content)
        if downgraded is None:
            return Refused(C554_CONVERSION_FAILED)
        prepared = Prepared(downgraded, "7BIT", False, converted=True)
    # RFC 1870 §4: "SIZE 0" (or no number) means no fixed limit.
    if server.size and len(prepared.content) > server.size:
        return Refused(C552_EXCEEDS_SIZE)
    return prepared


def downgrade_to_7bit(content: bytes) -> bytes | None:
    """Re-encode 8-bit leaf parts as quoted-printable (text) or base64 (other), or None.

    RFC 6152 §3 (and RFC 1652 before it): a client relaying 8-bit MIME to a server without
    8BITMIME may convert it to 7-bit MIME. Headers must already be ASCII (non-ASCII headers
    need SMTPUTF8, checked first), and message/* or multipart bodies cannot be re-encoded
    (MIME allows only 7bit, 8bit or binary there), so their 8-bit octets mean refusal.
    """
    if not header_section(content).isascii():
        return None
    msg = BytesParser(policy=_POLICY).parsebytes(content)
    if not _convert(msg, top=True):
        return None
    result = _flatten(msg)
    return result if result.isascii() else None


def _flatten(msg: Message) -> bytes:
    out = BytesIO()
    BytesGenerator(out, mangle_from_=False, policy=_POLICY).flatten(msg)
    return out.getvalue()


def _convert(part: Message, *, top: bool) -> bool:
    if part.get_content_maintype() == "message":
        return _flatten(part).isascii()  # an embedded message is never re-encoded here
    if part.is_multipart():
        if _has_8bit_text(part.preamble) or _has_8bit_text(part.epilogue):
            return False
        payload = part.get_payload()
        assert isinstance(payload, list)
        return all(isinstance(c, Message) and _convert_child(c) for c in payload)
    if part.get_content_maintype() == "multipart":
        return _payload_is_ascii(part)  # a multipart we could not parse into parts
    if _payload_is_ascii(part):
        return True
    return _reencode(part, top=top)


def _convert_child(child: Message) -> bool:
    if any(not str(v).isascii() for v in child.values()):
        return False
    return _convert(child, top=False)


def _payload_is_ascii(part: Message) -> bool:
    payload = part.get_payload(decode=False)
    return not isinstance(payload, str) or payload.isascii()


def _reencode(part: Message, *, top: bool) -> bool:
    """Replace an 8-bit leaf's Content-Transfer-Encoding with a 7-bit one."""
    cte = str(part.get("Content-Transfer-Encoding", "7bit")).strip().lower()
    if cte not in ("7bit", "8bit", "binary"):
        return False  # already encoded yet 8-bit: malformed, leave it to a human
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return False
    if part.get_content_maintype() == "text":
        encoded, name = _quoted_printable(data), "quoted-printable"
    else:
        encoded, name = _base64(data), "base64"
    del part["Content-Transfer-Encoding"]
    part["Content-Transfer-Encoding"] = name
    part.set_payload(encoded)
    if top and "MIME-Version" not in part:
        part["MIME-Version"] = "1.0"
    return True


def _quoted_printable(data: bytes) -> str:
    # quopri keeps line breaks as they are and soft-breaks ("=") lines longer than 76.
    return quopri.encodestring(data.replace(b"\r\n", b"\n"), quotetabs=False).decode("ascii")


def _base64(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii")


def _has_8bit_text(text: str | None) -> bool:
    return text is not None and not text.isascii()
