"""ENVELOPE / BODYSTRUCTURE from raw message bytes (roost.message.structure)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roost.imap.encode import encode_value
from roost.message.structure import (
    Address,
    BodyPart,
    Disposition,
    MultiPart,
    SinglePart,
    body_structure,
    envelope,
    part_offsets,
    to_imap,
)


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


SIMPLE = crlf(
    "Date: Mon, 7 Feb 1994 21:52:25 -0800\n"
    "From: Fred Foobar <foobar@Blurdybloop.example>\n"
    "Subject: afternoon meeting\n"
    "To: mooch@owatagu.siam.edu.example\n"
    "Message-Id: <B27397-0100000@Blurdybloop.example>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\n"
    "\n"
    "Hello Joe, do you think we can meet at 3:30 tomorrow?\n"
)


def test_simple_text_envelope() -> None:
    env = envelope(SIMPLE)
    fred = (Address("Fred Foobar", None, "foobar", "Blurdybloop.example"),)
    assert env.date == "Mon, 7 Feb 1994 21:52:25 -0800"
    assert env.subject == "afternoon meeting"
    assert env.from_ == fred
    assert env.sender == fred  # defaults to From
    assert env.reply_to == fred
    assert env.to == (Address(None, None, "mooch", "owatagu.siam.edu.example"),)
    assert env.cc is None
    assert env.bcc is None
    assert env.in_reply_to is None
    assert env.message_id == "<B27397-0100000@Blurdybloop.example>"


def test_simple_text_body_structure_and_wire_form() -> None:
    body = body_structure(SIMPLE)
    text = "Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n"
    assert body == SinglePart(
        "text", "plain", (("charset", "US-ASCII"),), None, None, "7bit", len(text), 1
    )
    assert len(text) == 55
    wire = encode_value(to_imap(body))
    assert wire == b'("text" "plain" ("charset" "US-ASCII") NIL NIL "7bit" 55 1 NIL NIL NIL NIL)'
    assert part_offsets(SIMPLE, (1,)) == (len(SIMPLE) - 55, len(SIMPLE))
    assert part_offsets(SIMPLE, ()) == (0, len(SIMPLE))
    with pytest.raises(KeyError):
        part_offsets(SIMPLE, (2,))
    with pytest.raises(KeyError):
        part_offsets(SIMPLE, (1, 1))


def test_envelope_wire_form() -> None:
    wire = encode_value(to_imap(envelope(SIMPLE)))
    assert wire == (
        b'("Mon, 7 Feb 1994 21:52:25 -0800" "afternoon meeting" '
        b'(("Fred Foobar" NIL "foobar" "Blurdybloop.example")) '
        b'(("Fred Foobar" NIL "foobar" "Blurdybloop.example")) '
        b'(("Fred Foobar" NIL "foobar" "Blurdybloop.example")) '
        b'((NIL NIL "mooch" "owatagu.siam.edu.example")) NIL NIL NIL '
        b'"<B27397-0100000@Blurdybloop.example>")'
    )


def test_missing_headers_are_nil_and_default_type() -> None:
    msg = b"X-Other: 1\r\n\r\nbody\r\nmore"
    env = envelope(msg)
    assert env == type(env)(None, None, None, None, None, None, None, None, None, None)
    assert encode_value(to_imap(env)) == b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
    body = body_structure(msg)
    assert isinstance(body, SinglePart)
    assert (body.type, body.subtype, body.params) == ("text", "plain", (("charset", "us-ascii"),))
    assert (body.size, body.lines) == (10, 2)  # "body\r\nmore": the last line has no CRLF


def test_empty_sender_and_reply_to_default_to_from() -> None:
    msg = crlf("From: a@b.example\nSender:\nReply-To: \n\n")
    env = envelope(msg)
    assert env.sender == env.reply_to == env.from_ == (Address(None, None, "a", "b.example"),)


def test_group_addresses() -> None:
    msg = crlf(
        "From: x@y.example\n"
        "To: A Group: Ed Jones <c@a.example>, joe@where.example,\n"
        ' "John (J.)" <jdoe@one.example>;, solo@two.example\n'
        "Cc: undisclosed-recipients:;\n"
        "Bcc: <@r1.example,@r2.example:mbox@host.example>, (Only Comment) c@d.example\n"
        "\n"
    )
    env = envelope(msg)
    assert env.to == (
        Address(None, None, "A Group", None),
        Address("Ed Jones", None, "c", "a.example"),
        Address(None, None, "joe", "where.example"),
        Address("John (J.)", None, "jdoe", "one.example"),
        Address(None, None, None, None),
        Address(None, None, "solo", "two.example"),
    )
    assert env.cc == (
        Address(None, None, "undisclosed-recipients", None),
        Address(None, None, None, None),
    )
    assert env.bcc == (
        Address(None, "@r1.example,@r2.example", "mbox", "host.example"),
        Address("Only Comment", None, "c", "d.example"),
    )
    wire = encode_value(to_imap(env))
    assert b'((NIL NIL "undisclosed-recipients" NIL) (NIL NIL NIL NIL))' in wire


def test_encoded_words_are_passed_through_raw_and_folding_is_undone() -> None:
    msg = crlf(
        "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\n =?utf-8?b?w6TDtg==?=\n"
        "From: =?iso-8859-1?q?J=F6rg?= <j@x.example>\n"
        "\n"
    )
    env = envelope(msg)
    assert env.subject == "=?utf-8?q?Gr=C3=BC=C3=9Fe?= =?utf-8?b?w6TDtg==?="
    assert env.from_ == (Address("=?iso-8859-1?q?J=F6rg?=", None, "j", "x.example"),)


def test_eight_bit_headers_round_trip_as_literals() -> None:
    msg = b"Subject: caf\xc3\xa9 \xff\r\n\r\n"
    env = envelope(msg)
    value = to_imap(env)
    assert value[1] == b"caf\xc3\xa9 \xff"  # not UTF-8: the original octets, as a literal
    assert encode_value(value[1]) == b"{7}\r\ncaf\xc3\xa9 \xff"


ALT_HTML = "<p>Hi</p>\n"
ALTERNATIVE = crlf(
    "From: a@b.example\n"
    'Content-Type: multipart/alternative; boundary="XX"\n'
    "\n"
    "preamble\n"
    "--XX\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "\n"
    "Hi\n"
    "there\n"
    "--XX\n"
    "Content-Type: text/html\n"
    "Content-Transfer-Encoding: quoted-printable\n"
    "\n"
    "<p>Hi</p>\n"
    "\n"
    "--XX--\n"
    "epilogue\n"
)


def test_multipart_alternative_sizes() -> None:
    body = body_structure(ALTERNATIVE)
    assert isinstance(body, MultiPart)
    assert body.subtype == "alternative"
    assert body.params == (("boundary", "XX"),)
    plain, html = body.parts
    assert isinstance(plain, SinglePart)
    assert isinstance(html, SinglePart)
    # "Hi\r\nthere": the CRLF before the delimiter belongs to the delimiter.
    assert (plain.size, plain.lines) == (9, 2)
    # "<p>Hi</p>\r\n": the blank line's CRLF is part of the body, the next CRLF is not.
    assert (html.size, html.lines) == (11, 1)
    assert html.encoding == "quoted-printable"
    assert html.params == ()
    start, end = part_offsets(ALTERNATIVE, (2,))
    assert ALTERNATIVE[start:end] == b"<p>Hi</p>\r\n"
    start, end = part_offsets(ALTERNATIVE, (1,))
    assert ALTERNATIVE[start:end] == b"Hi\r\nthere"
    wire = encode_value(to_imap(body))
    assert wire == (
        b'(("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 9 2 NIL NIL NIL NIL)'
        b'("text" "html" NIL NIL NIL "quoted-printable" 11 1 NIL NIL NIL NIL)'
        b' "alternative" ("boundary" "XX") NIL NIL NIL)'.replace(b")(", b") (")
    )


INNER = (
    "From: Inner <in@ner.example>\n"
    "Subject: inner\n"
    "Content-Type: multipart/mixed; boundary=in\n"
    "\n"
    "--in\n"
    "\n"
    "inner text\n"
    "--in\n"
    "Content-Type: application/octet-stream\n"
    "\n"
    "xyz\n"
    "--in--\n"
)
MIXED = crlf(
    "From: a@b.example\n"
    "Subject: mixed\n"
    'Content-Type: multipart/mixed; boundary="=_b1"\n'
    "Content-Language: en, de\n"
    "\n"
    "--=_b1\n"
    "Content-Type: text/plain\n"
    "Content-ID: <t1@x>\n"
    "Content-Description: the text\n"
    "\n"
    "see attached\n"
    "--=_b1\n"
    'Content-Type: application/pdf; name="a b.pdf"\n'
    "Content-Transfer-Encoding: base64\n"
    'Content-Disposition: attachment; filename="a b.pdf"; size=3\n'
    "Content-Language: en\n"
    "Content-Location: http://x.example/a.pdf\n"
    "\n"
    "QUJD\n"
    "--=_b1\n"
    "Content-Type: message/rfc822\n"
    "\n" + INNER + "--=_b1--\n"
)


def test_mixed_with_attachment_and_nested_message() -> None:
    body = body_structure(MIXED)
    assert isinstance(body, MultiPart)
    assert body.language == ("en", "de")
    text, pdf, msg = body.parts
    assert text == SinglePart(
        "text", "plain", (), "<t1@x>", "the text", "7bit", len(b"see attached"), 1
    )
    assert pdf == SinglePart(
        "application",
        "pdf",
        (("name", "a b.pdf"),),
        None,
        None,
        "base64",
        4,
        disposition=Disposition("attachment", (("filename", "a b.pdf"), ("size", "3"))),
        language=("en",),
        location="http://x.example/a.pdf",
    )
    assert isinstance(msg, SinglePart)
    inner_bytes = crlf(INNER)[:-2]  # the final CRLF belongs to the outer delimiter
    assert msg.size == len(inner_bytes) == 171
    assert msg.lines == 12
    assert msg.envelope is not None
    assert msg.envelope.subject == "inner"
    assert msg.envelope.from_ == (Address("Inner", None, "in", "ner.example"),)
    inner = msg.body
    assert isinstance(inner, MultiPart)
    first, second = inner.parts
    assert isinstance(first, SinglePart)
    assert isinstance(second, SinglePart)
    assert (first.type, first.size, first.lines) == ("text", 10, 1)
    assert (second.type, second.subtype, second.size, second.lines) == (
        "application",
        "octet-stream",
        3,
        None,
    )

    def section(*path: int) -> bytes:
        start, end = part_offsets(MIXED, path)
        return MIXED[start:end]

    assert section(2) == b"QUJD"
    assert section(3) == inner_bytes
    assert section(3, 1) == b"inner text"
    assert section(3, 2) == b"xyz"
    with pytest.raises(KeyError):
        part_offsets(MIXED, (3, 3))
    with pytest.raises(KeyError):
        part_offsets(MIXED, (4,))
    with pytest.raises(KeyError):
        part_offsets(MIXED, (2, 1))

    wire = encode_value(to_imap(body))
    assert b'"application" "pdf" ("name" "a b.pdf") NIL NIL "base64" 4 NIL' in wire
    assert b'("attachment" ("filename" "a b.pdf" "size" "3")) "en" "http://x.example/a.pdf"' in (
        wire
    )
    assert b'"message" "rfc822" NIL NIL NIL "7bit" 171 (NIL "inner" (("Inner"' in wire
    assert wire.endswith(b'"mixed" ("boundary" "=_b1") NIL ("en" "de") NIL)')


def test_nested_non_multipart_message_and_lf_only() -> None:
    msg = b"Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: s\n\nhello\n--d--\n"
    body = body_structure(msg)
    assert isinstance(body, MultiPart)
    (part,) = body.parts
    assert isinstance(part, SinglePart)
    assert (part.type, part.subtype) == ("message", "rfc822")  # the digest default
    assert part.size == len(b"Subject: s\n\nhello")
    assert part.lines == 3
    start, end = part_offsets(msg, (1, 1))
    assert msg[start:end] == b"hello"


def test_multipart_without_boundary_is_a_leaf() -> None:
    msg = b"Content-Type: multipart/mixed\r\n\r\nno parts\r\n"
    body = body_structure(msg)
    assert isinstance(body, SinglePart)
    assert (body.type, body.size, body.lines) == ("text", 10, 1)


# --- Hypothesis: built trees parse back to the same structure and sizes ----------------------

_line = st.text(alphabet="abcdefghij XYZ0123456789.,-", min_size=0, max_size=30)
_leaf_lines = st.lists(_line, min_size=0, max_size=4)
_subtype = st.sampled_from(["plain", "html", "x-thing"])


@st.composite
def _trees(draw: st.DrawFn, depth: int = 0) -> Any:
    if depth >= 3 or draw(st.integers(0, 2)) == 0:
        return (
            "leaf",
            draw(st.sampled_from(["text", "application"])),
            draw(_subtype),
            draw(_leaf_lines),
        )
    if draw(st.booleans()) and depth < 2:
        return ("message", draw(_trees(depth + 1)))
    children = draw(st.lists(_trees(depth + 1), min_size=1, max_size=3))
    return ("multi", draw(st.sampled_from(["mixed", "alternative"])), children)


def _serialise(tree: Any, counter: list[int]) -> tuple[bytes, bytes, Any]:
    """(MIME header lines, body, expected structure) of a tree node; the expected structure
    holds the body octets of every node so that sizes and section offsets can be checked."""
    kind = tree[0]
    if kind == "leaf":
        _, typ, sub, text_lines = tree
        body = "\r\n".join(text_lines).encode()
        # An empty last element means the body ends with CRLF: no partial last line.
        lines = len(text_lines) - (1 if text_lines and not text_lines[-1] else 0)
        return f"Content-Type: {typ}/{sub}\r\n".encode(), body, ("leaf", typ, sub, body, lines)
    if kind == "message":
        head, body, inner = _serialise(tree[1], counter)
        message = b"Subject: inner\r\n" + head + b"\r\n" + body
        return b"Content-Type: message/rfc822\r\n", message, ("message", message, inner)
    _, sub, children = tree
    counter[0] += 1
    boundary = f"b{counter[0]}=_x".encode()
    out = b"preamble\r\n"
    expected = []
    for child in children:
        head, body, exp = _serialise(child, counter)
        expected.append(exp)
        out += b"--" + boundary + b"\r\n" + head + b"\r\n" + body + b"\r\n"
    out += b"--" + boundary + b"--\r\n"
    head = b"Content-Type: multipart/" + sub.encode() + b'; boundary="' + boundary + b'"\r\n'
    return head, out, ("multi", sub, expected)


def _check(part: BodyPart, exp: Any, msg: bytes, path: tuple[int, ...]) -> None:
    if exp[0] == "multi":
        assert isinstance(part, MultiPart)
        assert part.subtype == exp[1]
        assert len(part.parts) == len(exp[2])
        for n, (child, child_exp) in enumerate(zip(part.parts, exp[2], strict=True), 1):
            _check(child, child_exp, msg, (*path, n))
        return
    assert isinstance(part, SinglePart)
    here = path or (1,)  # a non-multipart message's body is its part 1
    start, end = part_offsets(msg, here)
    if exp[0] == "leaf":
        _, typ, sub, body, lines = exp
        assert (part.type, part.subtype, part.size) == (typ, sub, len(body))
        assert part.lines == (lines if typ == "text" else None)
        assert msg[start:end] == body
        return
    _, message, inner = exp
    assert (part.type, part.subtype, part.size) == ("message", "rfc822", len(message))
    last_partial = 0 if message.endswith(b"\n") else 1
    assert part.lines == message.count(b"\n") + last_partial
    assert msg[start:end] == message
    assert part.envelope is not None
    assert part.envelope.subject == "inner"
    assert part.body is not None
    if inner[0] == "multi":
        _check(part.body, inner, msg, here)
    else:
        _check(part.body, inner, msg, (*here, 1))


@settings(max_examples=200, deadline=None)
@given(_trees())
def test_random_trees_round_trip(tree: Any) -> None:
    head, body, expected = _serialise(tree, [0])
    msg = b"From: a@b.example\r\n" + head + b"\r\n" + body
    parsed = body_structure(msg)
    _check(parsed, expected, msg, ())
    encode_value(to_imap(parsed))  # always encodable
