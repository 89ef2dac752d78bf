"""FETCH section data (RFC 9051 §6.4.5, §7.5.2; RFC 3516) cut from stored messages."""

from __future__ import annotations

import base64
import email
import email.policy
import re
from email.message import EmailMessage, Message

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roost.imap.fetch import Section, parse_fetch_items
from roost.imap.grammar import Cursor
from roost.imap.render import (
    InvalidEncoding,
    UnknownCte,
    binary_size,
    decode_transfer,
    header_end,
    section_data,
    section_label,
)
from roost.imap.searching import decode_words
from tests.imap.messages import DIGEST_LIKE, EIGHT_BIT, MIXED, PDF, SIMPLE, crlf


def sec(text: str) -> Section:
    """Parse one FETCH item such as `BODY.PEEK[1.MIME]<0.10>`."""
    (item,) = parse_fetch_items(Cursor(text.encode() + b"\r\n"))
    assert isinstance(item, Section)
    return item


def data(message: bytes, text: str) -> bytes | None:
    return section_data(message, sec(text))


# --- labels -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "origin", "label"),
    [
        ("BODY[]", None, "BODY[]"),
        ("BODY.PEEK[]", None, "BODY[]"),
        ("BODY.PEEK[]<0.100>", 0, "BODY[]<0>"),
        ("BODY[1.2.MIME]", None, "BODY[1.2.MIME]"),
        ("BODY[3.TEXT]<5.10>", 5, "BODY[3.TEXT]<5>"),
        ("BODY[HEADER]", None, "BODY[HEADER]"),
        (
            "BODY.PEEK[HEADER.FIELDS (From to Message-ID)]",
            None,
            "BODY[HEADER.FIELDS (FROM TO MESSAGE-ID)]",
        ),
        ('BODY[2.HEADER.FIELDS.NOT ("X Y" Z)]', None, 'BODY[2.HEADER.FIELDS.NOT ("X Y" Z)]'),
        ("BINARY.PEEK[1.2]", None, "BINARY[1.2]"),
        ("BINARY[]<7.1>", 7, "BINARY[]<7>"),
    ],
)
def test_section_label(item: str, origin: int | None, label: str) -> None:
    assert section_label(sec(item), origin=origin) == label


# --- whole message, header, text ----------------------------------------------------------------


def test_whole_header_text() -> None:
    end = header_end(SIMPLE)
    assert SIMPLE[end - 4 : end] == b"\r\n\r\n"
    assert data(SIMPLE, "BODY[]") == SIMPLE
    assert data(SIMPLE, "BODY[HEADER]") == SIMPLE[:end]
    assert data(SIMPLE, "BODY[TEXT]") == b"Shall we have lunch at noon?\r\nBob\r\n"
    assert data(SIMPLE, "BODY[HEADER]") + data(SIMPLE, "BODY[TEXT]") == SIMPLE  # type: ignore[operator]


def test_header_end_variants() -> None:
    assert header_end(b"A: b\n\nbody") == 6
    assert header_end(b"A: b\r\n\r\nbody") == 8
    assert header_end(b"\r\nbody") == 2
    assert header_end(b"A: b\r\nB: c") == 10  # no blank line: all header
    assert header_end(b"A: b\n\r\nx\n\ny") == 7  # the first blank line wins
    assert header_end(b"") == 0


def test_no_body_no_blank_line() -> None:
    msg = b"Subject: x\r\nFrom: a@b"
    assert data(msg, "BODY[HEADER]") == msg
    assert data(msg, "BODY[TEXT]") == b""
    assert data(msg, "BODY[HEADER.FIELDS (FROM)]") == b"From: a@b\r\n\r\n"


def test_header_fields() -> None:
    got = data(SIMPLE, "BODY.PEEK[HEADER.FIELDS (subject X-FOLDED message-id)]")
    assert got == (
        b"Subject: Lunch?\r\nMessage-ID: <simple.1@example.com>\r\n"
        b"X-Folded: first\r\n\tsecond\r\n\r\n"
    )
    # Fields come in message order, not request order; a missing field is just absent.
    assert data(SIMPLE, "BODY[HEADER.FIELDS (X-NONE)]") == b"\r\n"


def test_header_fields_not() -> None:
    got = data(SIMPLE, "BODY[HEADER.FIELDS.NOT (From To Date Message-ID X-Folded)]")
    assert got == b"Subject: Lunch?\r\n\r\n"


def test_header_fields_repeated_and_spaced_names() -> None:
    msg = crlf("Received: a\n  more\nreceived: b\nSubject : odd\nX: y\n\nbody\n")
    assert data(msg, "BODY[HEADER.FIELDS (RECEIVED)]") == crlf(
        "Received: a\n  more\nreceived: b\n\n"
    )
    assert data(msg, "BODY[HEADER.FIELDS (SUBJECT)]") == b"Subject : odd\r\n\r\n"


def test_bare_lf_message() -> None:
    msg = b"From: a@b\nSubject: s\n\nline\n"
    assert data(msg, "BODY[HEADER]") == b"From: a@b\nSubject: s\n\n"
    assert data(msg, "BODY[HEADER.FIELDS (SUBJECT)]") == b"Subject: s\n\n"
    assert data(msg, "BODY[TEXT]") == b"line\n"
    assert data(msg, "BODY[1]") == b"line\n"


# --- parts ----------------------------------------------------------------------------------


def test_non_multipart_part_one_is_the_body() -> None:
    assert data(SIMPLE, "BODY[1]") == data(SIMPLE, "BODY[TEXT]")
    assert data(SIMPLE, "BODY[2]") is None
    assert data(SIMPLE, "BODY[1.1]") is None
    assert data(SIMPLE, "BODY[1.HEADER]") is None  # part 1 is not message/rfc822


def test_multipart_parts_and_mime() -> None:
    assert data(MIXED, "BODY[1]") == crlf(
        "Bonjour, voici le r=C3=A9sum=C3=A9 du caf=C3=A9 et une tr=\n=C3=A8s longue ligne."
    )
    assert data(MIXED, "BODY[1.MIME]") == crlf(
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
    )
    assert base64.b64decode(data(MIXED, "BODY[2]") or b"") == PDF
    assert data(MIXED, "BODY[4]") is None


def test_nested_message_rfc822() -> None:
    inner = data(MIXED, "BODY[3]")
    assert inner is not None
    assert inner.startswith(b"From: Eve <eve@example.com>\r\n")
    assert data(MIXED, "BODY[3.MIME]") == b"Content-Type: message/rfc822\r\n\r\n"
    header = data(MIXED, "BODY[3.HEADER]")
    assert header is not None
    assert header.startswith(b"From: Eve")
    assert header.endswith(b"\r\n\r\n")
    assert b"Subject: Inner secret" in header
    assert data(MIXED, "BODY[3.HEADER.FIELDS (SUBJECT)]") == b"Subject: Inner secret\r\n\r\n"
    assert inner == header + (data(MIXED, "BODY[3.TEXT]") or b"")
    assert data(MIXED, "BODY[3.2]") == b"<p>HTML <b>only</b> words</p>"
    assert data(MIXED, "BODY[3.2.MIME]") == b"Content-Type: text/html; charset=utf-8\r\n\r\n"
    assert data(MIXED, "BODY[3.3]") is None
    assert data(MIXED, "BODY[3.1.HEADER]") is None


def test_top_level_message_rfc822() -> None:
    assert data(DIGEST_LIKE, "BODY[1.HEADER]") == crlf(
        "From: inner@example.org\nSubject: inner plain\n\n"
    )
    assert data(DIGEST_LIKE, "BODY[1.TEXT]") == b"inner body line\r\n"
    assert data(DIGEST_LIKE, "BODY[1.1]") == b"inner body line\r\n"


# --- partial ------------------------------------------------------------------------------------


def test_partial() -> None:
    assert data(SIMPLE, "BODY[]<0.4>") == b"From"
    assert data(SIMPLE, "BODY[TEXT]<6.2>") == b"we"
    assert data(SIMPLE, "BODY[TEXT]<30.1000>") == b"Bob\r\n"
    assert data(SIMPLE, f"BODY[]<{len(SIMPLE)}.10>") == b""  # RFC 9051 §6.4.5
    assert data(SIMPLE, "BODY[]<99999999.10>") == b""
    assert data(SIMPLE, "BODY[7]<0.10>") is None


# --- BINARY ---------------------------------------------------------------------------------


def test_binary_decodes() -> None:
    text = "Bonjour, voici le résumé du café et une très longue ligne."
    assert data(MIXED, "BINARY[1]") == crlf(text)
    assert data(MIXED, "BINARY[2]") == PDF
    assert data(MIXED, "BINARY.PEEK[2]<256.4>") == bytes([0, 1, 2, 3])  # after decoding
    assert data(MIXED, "BINARY[3.1]") == "Le mot de passe est éléphant.\n".encode("latin-1")
    assert data(MIXED, "BINARY[3.2]") == b"<p>HTML <b>only</b> words</p>"
    assert data(MIXED, "BINARY[]") == MIXED
    assert data(MIXED, "BINARY[9]") is None
    assert binary_size(MIXED, (2,)) == len(PDF)
    assert binary_size(MIXED, (1,)) == len(crlf(text))
    assert binary_size(MIXED, ()) == len(MIXED)
    assert binary_size(MIXED, (9,)) == 0


def _one_part(encoding: str, body: bytes) -> bytes:
    return (
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: "
        + encoding.encode()
        + b"\r\n\r\n"
        + body
    )


def test_binary_unknown_and_bad_encodings() -> None:
    with pytest.raises(UnknownCte):
        data(_one_part("x-uuencode", b"begin 644 x\r\n"), "BINARY[1]")
    with pytest.raises(UnknownCte):
        binary_size(_one_part("x-uuencode", b""), (1,))
    with pytest.raises(InvalidEncoding):
        data(_one_part("base64", b"aGVsbG8*\r\n"), "BINARY[1]")
    with pytest.raises(InvalidEncoding):
        data(_one_part("base64", b"aGVsb\r\n"), "BINARY[1]")  # 5 characters: impossible
    # BODY[] never decodes, so an unknown encoding is no error there.
    assert data(_one_part("x-uuencode", b"abc"), "BODY[1]") == b"abc"


@pytest.mark.parametrize(
    ("encoding", "body", "decoded"),
    [
        ("BASE64", b"aGVs\r\nbG8=\r\n", b"hello"),
        ("base64", b" aGVs bG8 \r\n", b"hello"),  # whitespace and missing padding tolerated
        ("base64", b"", b""),
        ("quoted-printable", b"caf=C3=A9=\r\n ok=3D\r\n", "café ok=\r\n".encode()),
        ("quoted-printable", b"bad =ZZ escape", b"bad =ZZ escape"),
        ("7bit", b"as is\r\n", b"as is\r\n"),
        ("8bit", "né\r\n".encode(), "né\r\n".encode()),
        ("binary", b"\x00\x01", b"\x00\x01"),
        ("", b"x", b"x"),
    ],
)
def test_decode_transfer(encoding: str, body: bytes, decoded: bytes) -> None:
    assert decode_transfer(body, encoding) == decoded
    assert data(_one_part(encoding or "7bit", body), "BINARY[1]") == decoded


# --- cross-check against the stdlib email package ---------------------------------------------


def _stdlib(message: bytes) -> Message:
    return email.message_from_bytes(message, policy=email.policy.compat32)


@pytest.mark.parametrize("message", [MIXED, SIMPLE, EIGHT_BIT, DIGEST_LIKE])
def test_header_fields_match_stdlib(message: bytes) -> None:
    parsed = _stdlib(message)
    for name in ("From", "To", "Subject", "Date", "Message-ID", "X-Folded", "Cc"):
        got = data(message, f"BODY.PEEK[HEADER.FIELDS ({name})]")
        assert got is not None
        values = [v for k, v in parsed._headers if k.lower() == name.lower()]  # raw values
        assert got.endswith(b"\r\n\r\n") or got == b"\r\n"
        fields = re.findall(rb"[^ \t][^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*", got[:-2])
        assert len(fields) == len(values)
        for field, value in zip(fields, values, strict=True):
            raw = field.split(b":", 1)[1].decode("ascii", "surrogateescape")
            assert raw.strip() == value.strip()


def test_part_bodies_match_stdlib() -> None:
    parsed = _stdlib(MIXED)
    parts = parsed.get_payload()
    assert isinstance(parts, list)
    assert data(MIXED, "BINARY[1]") == parts[0].get_payload(decode=True)
    assert data(MIXED, "BINARY[2]") == parts[1].get_payload(decode=True)
    inner = parts[2].get_payload()[0]
    inner_parts = inner.get_payload()
    assert data(MIXED, "BINARY[3.1]") == inner_parts[0].get_payload(decode=True)
    assert data(MIXED, "BODY[3.2]") == inner_parts[1].get_payload().encode()
    assert data(MIXED, "BODY[3.HEADER.FIELDS (SUBJECT)]") == (
        b"Subject: " + inner["Subject"].encode() + b"\r\n\r\n"
    )


# --- never raises on arbitrary input ------------------------------------------------------------

SECTIONS = [
    "BODY[]",
    "BODY[HEADER]",
    "BODY[TEXT]",
    "BODY[HEADER.FIELDS (FROM SUBJECT)]",
    "BODY[HEADER.FIELDS.NOT (FROM)]",
    "BODY[1]",
    "BODY[1.MIME]",
    "BODY[2.HEADER]",
    "BODY[2.TEXT]<1.5>",
    "BODY[1.1]",
    "BODY[2.1.MIME]",
    "BINARY[1]",
    "BINARY[2.1]<0.3>",
]

_LINES = st.sampled_from(
    [
        b"Content-Type: multipart/mixed; boundary=b\r\n",
        b"Content-Type: message/rfc822\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
        b"Content-Transfer-Encoding: quoted-printable\r\n",
        b"Content-Transfer-Encoding: x-gzip\r\n",
        b"--b\r\n",
        b"--b--\r\n",
        b"\r\n",
        b"\n",
        b" folded\r\n",
        b"From: a@b\r\n",
        b"aGVsbG8=\r\n",
        b"=C3=A9=\r\n",
    ]
)
_MESSAGES = st.one_of(st.binary(max_size=400), st.lists(_LINES, max_size=30).map(b"".join))


@settings(max_examples=300, deadline=None)
@given(_MESSAGES, st.sampled_from(SECTIONS))
def test_section_data_never_raises(message: bytes, item: str) -> None:
    section = sec(item)
    try:
        got = section_data(message, section)
    except UnknownCte:
        assert section.binary
        return
    if section.partial is not None and got is not None:
        assert len(got) <= section.partial[1]
    if not section.part and section.specifier in ("HEADER", "TEXT"):
        header = section_data(message, Section(specifier="HEADER"))
        text = section_data(message, Section(specifier="TEXT"))
        assert header is not None
        assert text is not None
        assert header + text == message
        assert len(header) == header_end(message)


@settings(max_examples=200, deadline=None)
@given(_MESSAGES)
def test_header_end_agrees_with_structure(message: bytes) -> None:
    from roost.message.structure import part_span

    assert header_end(message) == part_span(message, ()).body_start


def _built_by_stdlib() -> bytes:
    inner = EmailMessage()
    inner["From"] = "Inner <inner@example.org>"
    inner["Subject"] = "Über inner"
    inner.set_content("Inner text with ünïcödé\n" * 3, cte="quoted-printable")
    outer = EmailMessage()
    outer["From"] = "Outer <outer@example.org>"
    outer["To"] = "Someone <someone@example.com>"
    outer["Subject"] = "Grüße with attachments"
    outer.set_content("Hello 🌍\n", cte="base64")
    outer.add_alternative("<p>Hello</p>\n", subtype="html")
    outer.add_attachment(bytes(range(200)), maintype="image", subtype="png", filename="x.png")
    outer.add_attachment(inner)
    return outer.as_bytes(policy=email.policy.SMTP)


def test_stdlib_built_message_parts() -> None:
    raw = _built_by_stdlib()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    leaves: list[tuple[tuple[int, ...], Message]] = []

    def walk(msg: Message, number: tuple[int, ...]) -> None:
        if msg.is_multipart():
            for i, sub in enumerate(msg.get_payload(), 1):  # type: ignore[arg-type]
                walk(sub, (*number, i))
        elif msg.get_content_type() == "message/rfc822":
            (inner,) = msg.get_payload()  # type: ignore[misc]
            label = ".".join(map(str, number))
            got = data(raw, f"BODY[{label}.HEADER.FIELDS (SUBJECT)]")
            assert got is not None
            assert got.startswith(b"Subject: ")
            assert got.endswith(b"\r\n\r\n")
            value = re.sub(r"\r\n[ \t]", " ", got[9:-4].decode("ascii"))
            assert decode_words(value) == inner["Subject"]
            walk(inner, (*number, 1) if not inner.is_multipart() else number)
        else:
            leaves.append((number, msg))

    walk(parsed, ())
    assert len(leaves) == 4
    for number, part in leaves:
        label = ".".join(map(str, number))
        assert data(raw, f"BINARY[{label}]") == part.get_payload(decode=True), label
        mime = data(raw, f"BODY[{label}.MIME]")
        assert mime is not None
        assert part["Content-Type"].split(";")[0].encode() in mime


# --- header sections from a stored header block ---------------------------------------------

_LINES = st.lists(
    st.sampled_from(
        [
            b"From: a@b\r\n",
            b"from :x\r\n",
            b"TO:\r\n",
            b"To: c,\r\n d\r\n",
            b"Subject: s\n",
            b" folded\r\n",
            b"\tfolded\r\n",
            b"\r\n",
            b"\n",
            b"X-A: 1\r\n",
            b"Date: d\r",
            b"\r",
            b"Message-Id: <m>\r\n",
            b"NoColon\r\n",
            b"Fromage: no\r\n",
            b"x\x00y: z\r\n",
            b"Subject\t: t\r\n",
            b"body text\r\n",
        ]
    ),
    max_size=12,
)
_SECTIONS = [
    "BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)]",
    "BODY.PEEK[HEADER.FIELDS (subject)]<3.9>",
    'BODY.PEEK[HEADER.FIELDS (x-a fromage "")]',
    "BODY.PEEK[HEADER.FIELDS.NOT (FROM X-A)]",
    "BODY.PEEK[HEADER]",
    "BODY.PEEK[HEADER]<2.20>",
]


@settings(max_examples=400)
@given(_LINES, st.sampled_from([b"", b"Received: by x\r\n", b"Delivered-To: a\r\nR: b\r\n"]))
def test_header_reader_on_a_stored_block_equals_section_data(
    lines: list[bytes], prefix: bytes
) -> None:
    """FETCH from the kept header block (prefix + the blob's BODY[HEADER]) gives the octets
    section_data gives from the whole message."""
    from roost.imap.render import header_reader
    from roost.message.wire import header_block

    blob = b"".join(lines)
    kept = prefix + header_block(blob)
    for text in _SECTIONS:
        section = sec(text)
        assert header_reader(section)(kept) == section_data(prefix + blob, section), text
        assert header_reader(section)(prefix + blob) == section_data(prefix + blob, section)
