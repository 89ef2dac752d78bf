"""Response encoding (RFC 9051 §7): status lines, codes, untagged data and value forms."""

from __future__ import annotations

import datetime as dt

import pytest

from roost.imap import SequenceSet
from roost.imap import responses as r
from roost.imap.encode import Atom, Literal8, encode_value
from roost.imap.errors import LocalProtocolError

S = SequenceSet.parse


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        (r.tagged("a1", r.Status.OK, "LOGIN completed"), b"a1 OK LOGIN completed\r\n"),
        (r.tagged("a", r.Status.NO, "Nope", r.code_trycreate()), b"a NO [TRYCREATE] Nope\r\n"),
        (r.tagged("a", r.Status.BAD, ""), b"a BAD BAD\r\n"),
        (
            r.untagged(r.Status.OK, "UIDs valid", r.code_uidvalidity(3857529045)),
            b"* OK [UIDVALIDITY 3857529045] UIDs valid\r\n",
        ),
        (
            r.untagged(r.Status.OK, "Predicted", r.code_uidnext(4392)),
            b"* OK [UIDNEXT 4392] Predicted\r\n",
        ),
        (
            r.untagged(
                r.Status.OK, "Limited", r.code_permanentflags(["\\Deleted", "\\Seen", "\\*"])
            ),
            b"* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n",
        ),
        (
            r.tagged("A003", r.Status.OK, "APPEND completed", r.code_appenduid(38505, S("3955"))),
            b"A003 OK [APPENDUID 38505 3955] APPEND completed\r\n",
        ),
        (
            r.tagged(
                "a", r.Status.OK, "Done", r.code_copyuid(38505, S("304,319:320"), S("3956:3958"))
            ),
            b"a OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n",
        ),
        (
            r.untagged(r.Status.OK, "Highest", r.code_highestmodseq(715194045007)),
            b"* OK [HIGHESTMODSEQ 715194045007] Highest\r\n",
        ),
        (r.untagged(r.Status.NO, "Warning", r.code_alert()), b"* NO [ALERT] Warning\r\n"),
        (r.untagged(r.Status.OK, "x", r.code_closed()), b"* OK [CLOSED] x\r\n"),
        (
            r.untagged(r.Status.OK, "hi", r.code_capability(["IMAP4rev2", "AUTH=PLAIN"])),
            b"* OK [CAPABILITY IMAP4rev2 AUTH=PLAIN] hi\r\n",
        ),
        (r.untagged(r.Status.BYE, "bye"), b"* BYE bye\r\n"),
        (r.tagged("a", r.Status.OK, "x", r.code("READ-ONLY")), b"a OK [READ-ONLY] x\r\n"),
        (r.tagged("a", r.Status.OK, "x", r.code_modified(S("7,9"))), b"a OK [MODIFIED 7,9] x\r\n"),
        (r.continuation(), b"+ Ready\r\n"),
        (r.challenge(b""), b"+ \r\n"),
        (r.challenge(b"\0a"), b"+ AGE=\r\n"),
        (r.capability(["IMAP4rev2", "IDLE"]), b"* CAPABILITY IMAP4rev2 IDLE\r\n"),
        (r.enabled(["CONDSTORE"]), b"* ENABLED CONDSTORE\r\n"),
        (r.exists(23), b"* 23 EXISTS\r\n"),
        (r.expunge(3), b"* 3 EXPUNGE\r\n"),
        (r.flags(["\\Answered", "$Junk"]), b"* FLAGS (\\Answered $Junk)\r\n"),
        (r.vanished(S("405,407,410,425")), b"* VANISHED 405,407,410,425\r\n"),
        (r.vanished(S("41:43"), earlier=True), b"* VANISHED (EARLIER) 41:43\r\n"),
        (
            r.list_mailbox(["\\Noselect"], "/", "~/Mail/foo"),
            b'* LIST (\\Noselect) "/" ~/Mail/foo\r\n',
        ),
        (r.list_mailbox([], None, "INBOX"), b"* LIST () NIL INBOX\r\n"),
        (r.list_mailbox([], "/", "a b"), b'* LIST () "/" "a b"\r\n'),
        (
            r.list_mailbox(["\\Subscribed"], "/", "Foo", [("CHILDINFO", ["SUBSCRIBED"])]),
            b'* LIST (\\Subscribed) "/" Foo ("CHILDINFO" ("SUBSCRIBED"))\r\n',
        ),
        (
            r.status("blurdybloop", {"MESSAGES": 231, "UIDNEXT": 44292}),
            b"* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r\n",
        ),
        (
            r.esearch("A282", [("MIN", 2), ("COUNT", 3)], uid=False),
            b'* ESEARCH (TAG "A282") MIN 2 COUNT 3\r\n',
        ),
        (
            r.esearch("a", [("ALL", SequenceSet.from_numbers([1, 2, 3, 5]))], uid=True),
            b'* ESEARCH (TAG "a") UID ALL 1:3,5\r\n',
        ),
        (r.search([2, 84, 882]), b"* SEARCH 2 84 882\r\n"),
        (r.search([], modseq=5), b"* SEARCH (MODSEQ 5)\r\n"),
        (r.id_response(None), b"* ID NIL\r\n"),
        (r.id_response([("name", "Roost"), ("x", None)]), b'* ID ("name" "Roost" "x" NIL)\r\n'),
    ],
)
def test_responses(wire: bytes, expected: bytes) -> None:
    """Each builder produces the RFC 9051 wire form."""
    assert wire == expected


def test_fetch_response() -> None:
    """`* n FETCH (...)` with flags, numbers, strings, NIL, literals and literal8."""
    wire = r.fetch(
        12,
        [
            ("FLAGS", r.flag_atoms(["\\Seen"])),
            ("UID", 4827313),
            (
                "INTERNALDATE",
                r.date_time(
                    dt.datetime(1996, 7, 17, 2, 44, 25, tzinfo=dt.timezone(-dt.timedelta(hours=7)))
                ),
            ),
            ("ENVELOPE", [None, "IMAP4rev2 WG mtg summary"]),
            ("BODY[HEADER.FIELDS (FROM)]<0>", b"From: x\r\n"),
            ("BINARY[1]", Literal8(b"\0\1")),
        ],
    )
    assert wire == (
        b'* 12 FETCH (FLAGS (\\Seen) UID 4827313 INTERNALDATE "17-Jul-1996 02:44:25 -0700" '
        b'ENVELOPE (NIL "IMAP4rev2 WG mtg summary") BODY[HEADER.FIELDS (FROM)]<0> {9}\r\n'
        b"From: x\r\n BINARY[1] ~{2}\r\n\0\1)\r\n"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", b'"plain"'),
        ('q"uo\\te', b'"q\\"uo\\\\te"'),
        ("", b'""'),
        ("line\r\nbreak", b"{11}\r\nline\r\nbreak"),
        ("caf\u00e9", b"{5}\r\ncaf\xc3\xa9"),
        ("nul\0", b"{4}\r\nnul\0"),
        ("x" * 1001, b"{1001}\r\n" + b"x" * 1001),
        (None, b"NIL"),
        (7, b"7"),
        (Atom("\\Seen"), b"\\Seen"),
        (["a", None, ["b"]], b'("a" NIL ("b"))'),
        (b"raw", b"{3}\r\nraw"),
    ],
)
def test_value_forms(value: object, expected: bytes) -> None:
    """Quoted for plain text, literal for CR/LF/NUL/8-bit/long text, NIL, numbers, lists."""
    assert encode_value(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"), [("INBOX", b"INBOX"), ("nil", b'"nil"'), ("a]", b"a]")]
)
def test_astring_uses_atoms(value: str, expected: bytes) -> None:
    """In astring positions plain names are atoms, but never "NIL"."""
    assert encode_value(value, astring=True) == expected


def test_misuse_is_a_local_error() -> None:
    """CRLF in response text or a bad atom is our bug: LocalProtocolError."""
    with pytest.raises(LocalProtocolError):
        r.tagged("a", r.Status.OK, "two\r\nlines")
    with pytest.raises(LocalProtocolError):
        Atom("has space")
    with pytest.raises(ValueError):
        r.tagged("a", r.Status.BYE, "x")
