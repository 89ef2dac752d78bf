"""What the client may send: 8BITMIME downgrade (RFC 6152), SMTPUTF8 (RFC 6531), SIZE (RFC 1870)."""

from __future__ import annotations

import email
import email.policy

from hypothesis import given
from hypothesis import strategies as st

from roost.delivery.content import (
    Prepared,
    Refused,
    downgrade_to_7bit,
    needs_smtputf8,
    prepare,
)
from roost.smtp.client_ehlo import Extensions

FULL = Extensions(eightbitmime=True, smtputf8=True, size=0)
SEVEN_BIT = Extensions(size=0)
TEXT_8BIT = (
    b"From: a@example.com\r\nSubject: hi\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n\r\nGr\xc3\xbc\xc3\x9fe\r\n.dot\r\n"
)


def _prepare(content: bytes, server: Extensions, **kw: object) -> Prepared | Refused:
    args: dict[str, object] = {
        "sender": "a@example.com",
        "recipients": ("b@example.net",),
        "body_type": "7BIT",
        "smtputf8": False,
    }
    args.update(kw)
    return prepare(content, server=server, **args)  # type: ignore[arg-type]


def test_ascii_message_is_unchanged() -> None:
    """A 7-bit message goes as it is, BODY 7BIT."""
    content = b"Subject: x\r\n\r\nplain\r\n"
    assert _prepare(content, SEVEN_BIT) == Prepared(content, "7BIT", False)


def test_8bit_to_8bitmime_server_unchanged() -> None:
    """The server takes 8BITMIME: no conversion, BODY=8BITMIME."""
    assert _prepare(TEXT_8BIT, FULL) == Prepared(TEXT_8BIT, "8BITMIME", False)


def test_8bit_text_downgraded_to_quoted_printable() -> None:
    """RFC 6152 §3: 8-bit text to a 7-bit server is re-encoded; the text itself survives."""
    result = _prepare(TEXT_8BIT, SEVEN_BIT)
    assert isinstance(result, Prepared)
    assert result.converted
    assert result.content.isascii()
    msg = email.message_from_bytes(result.content, policy=email.policy.default)
    assert msg["Content-Transfer-Encoding"] == "quoted-printable"
    assert msg["Subject"] == "hi"
    assert msg.get_content().replace("\r\n", "\n") == "Grüße\n.dot\n"


def test_multipart_parts_downgraded_each_their_way() -> None:
    """Text parts become quoted-printable, binary parts base64; headers stay."""
    content = (
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n\xc3\xa9\r\n--B\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        b"\xff\x00\r\n--B--\r\n"
    )
    out = downgrade_to_7bit(content)
    assert out is not None
    msg = email.message_from_bytes(out, policy=email.policy.default)
    text, blob = list(msg.iter_parts())
    assert text.get_content() == "é"  # the CRLF before a boundary belongs to it
    assert blob["Content-Transfer-Encoding"] == "base64"
    assert blob.get_content() == b"\xff\x00"


def test_embedded_message_with_8bit_refused() -> None:
    """message/* cannot be re-encoded: 5.6.3 conversion required but not supported."""
    content = b"MIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\nSubject: y\r\n\r\n\xe9\r\n"
    result = _prepare(content, SEVEN_BIT)
    assert isinstance(result, Refused)
    assert (result.reply.code, result.reply.enhanced) == (554, "5.6.3")


def test_utf8_header_needs_smtputf8() -> None:
    """RFC 6531 §3.2: non-ASCII header without SMTPUTF8 at the server is refused with 5.6.7."""
    content = "Subject: Grüße\r\n\r\nx\r\n".encode()
    assert needs_smtputf8(content, "a@b", ("c@d",))
    result = _prepare(content, Extensions(eightbitmime=True))
    assert isinstance(result, Refused)
    assert result.reply.enhanced == "5.6.7"
    ok = _prepare(content, FULL)
    assert isinstance(ok, Prepared)
    assert ok.smtputf8


def test_utf8_envelope_needs_smtputf8() -> None:
    """A non-ASCII sender or recipient needs SMTPUTF8 even with an ASCII message."""
    assert needs_smtputf8(b"Subject: x\r\n\r\n", "jörg@example.com", ())
    assert needs_smtputf8(b"Subject: x\r\n\r\n", "a@b", ("ü@example.net",))


def test_size_limit() -> None:
    """RFC 1870 §6: larger than the server's SIZE is refused 5.3.4; SIZE 0 means no limit."""
    content = b"Subject: x\r\n\r\n" + b"y" * 100
    refused = _prepare(content, Extensions(size=50))
    assert isinstance(refused, Refused)
    assert refused.reply.enhanced == "5.3.4"
    assert isinstance(_prepare(content, Extensions(size=0)), Prepared)
    assert isinstance(_prepare(content, Extensions(size=len(content))), Prepared)


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=200))
def test_downgraded_text_decodes_to_the_original(text: str) -> None:
    """Any UTF-8 text body survives the quoted-printable downgrade (modulo line endings)."""
    body = text.replace("\r", "").encode("utf-8")
    content = b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + body
    out = downgrade_to_7bit(content)
    assert out is not None
    assert out.isascii()
    msg = email.message_from_bytes(out)
    decoded = msg.get_payload(decode=True)
    assert isinstance(decoded, bytes)
    assert decoded.replace(b"\r\n", b"\n") == body
