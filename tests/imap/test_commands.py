"""Table tests: each command family parses to its typed value (RFC 9051 §6 examples)."""

from __future__ import annotations

import datetime as dt

import pytest

from roost.imap import SequenceSet
from roost.imap import commands as c
from roost.imap import search as s
from roost.imap.fetch import Attribute, BinarySize, Section
from roost.imap.grammar import BadSyntax
from tests.imap.util import cmd

S = SequenceSet.parse
UTC1 = dt.timezone(dt.timedelta(hours=1))


@pytest.mark.parametrize(
    "line",
    [
        "a CAPABILITY",
        "a NOOP",
        "a LOGOUT",
        "a STARTTLS",
        "a NAMESPACE",
        "a IDLE",
        "a CHECK",
        "a CLOSE",
        "a UNSELECT",
        "a EXPUNGE",
        "a noop",
    ],
)
def test_simple_commands(line: str) -> None:
    """Argument-less commands parse to Simple with the upper-cased name."""
    assert cmd(line) == c.Simple("a", line.split()[1].upper())


TABLE: list[tuple[str, c.Command]] = [
    ("a001 LOGIN SMITH SESAME", c.Login("a001", "LOGIN", "SMITH", "SESAME")),
    ('a LOGIN "fred \\"x\\"" "a\\\\b"', c.Login("a", "LOGIN", 'fred "x"', "a\\b")),
    ("a AUTHENTICATE gssapi", c.Authenticate("a", "AUTHENTICATE", "GSSAPI")),
    ("a AUTHENTICATE PLAIN =", c.Authenticate("a", "AUTHENTICATE", "PLAIN", b"")),
    (
        "a AUTHENTICATE PLAIN AHRlc3QAdGVzdA==",
        c.Authenticate("a", "AUTHENTICATE", "PLAIN", b"\0test\0test"),
    ),
    ("t2 ENABLE CONDSTORE X-GOOD-IDEA", c.Enable("t2", "ENABLE", ("CONDSTORE", "X-GOOD-IDEA"))),
    ("A142 SELECT INBOX", c.Select("A142", "SELECT", "INBOX")),
    ("A142 SELECT inbox", c.Select("A142", "SELECT", "INBOX")),
    ("A932 EXAMINE blurdybloop", c.Select("A932", "EXAMINE", "blurdybloop")),
    ("a SELECT x (CONDSTORE)", c.Select("a", "SELECT", "x", condstore=True)),
    (
        "A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
        c.Select(
            "A02",
            "SELECT",
            "INBOX",
            qresync=c.QResync(67890007, 20050715194045000, S("41,43:211,214:541")),
        ),
    ),
    (
        "B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 "
        "15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))",
        c.Select(
            "B04",
            "SELECT",
            "INBOX",
            qresync=c.QResync(
                67890007,
                90060115194045000,
                S("1:29997"),
                S("5000,7500,9000,9990:9999"),
                S("15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997"),
            ),
        ),
    ),
    ("A003 CREATE owatagusiam/", c.MailboxCommand("A003", "CREATE", "owatagusiam/")),
    (
        't1 CREATE "Important Messages" (USE (\\Important))',
        c.MailboxCommand("t1", "CREATE", "Important Messages", ("\\Important",)),
    ),
    ("A683 DELETE blurdybloop", c.MailboxCommand("A683", "DELETE", "blurdybloop")),
    (
        "A002 SUBSCRIBE #news.comp.mail.mime",
        c.MailboxCommand("A002", "SUBSCRIBE", "#news.comp.mail.mime"),
    ),
    ("A002 UNSUBSCRIBE x", c.MailboxCommand("A002", "UNSUBSCRIBE", "x")),
    ("G GETQUOTAROOT INBOX", c.MailboxCommand("G", "GETQUOTAROOT", "INBOX")),
    ('G GETQUOTA ""', c.GetQuota("G", "GETQUOTA", "")),
    ("A683 RENAME blurdybloop sarasoop", c.Rename("A683", "RENAME", "blurdybloop", "sarasoop")),
    ('A101 LIST "" ""', c.List("A101", "LIST", "", ("",))),
    ('A102 LIST #news.comp.mail.misc ""', c.List("A102", "LIST", "#news.comp.mail.misc", ("",))),
    ("A202 LIST ~/Mail/ %", c.List("A202", "LIST", "~/Mail/", ("%",))),
    ('a LIST "" *]', c.List("a", "LIST", "", ("*]",))),
    (
        'A04 LIST (SUBSCRIBED RECURSIVEMATCH) "" % RETURN (CHILDREN)',
        c.List("A04", "LIST", "", ("%",), ("SUBSCRIBED", "RECURSIVEMATCH"), ("CHILDREN",)),
    ),
    (
        'A03 LIST () "" ("INBOX" "Drafts" "Sent/%")',
        c.List("A03", "LIST", "", ("INBOX", "Drafts", "Sent/%")),
    ),
    (
        'A01 LIST "" % RETURN (STATUS (MESSAGES UNSEEN) SPECIAL-USE)',
        c.List("A01", "LIST", "", ("%",), (), ("STATUS", "SPECIAL-USE"), ("MESSAGES", "UNSEEN")),
    ),
    ('A002 LSUB "#news." "comp.mail.*"', c.List("A002", "LSUB", "#news.", ("comp.mail.*",))),
    (
        "A042 STATUS blurdybloop (UIDNEXT MESSAGES)",
        c.Status("A042", "STATUS", "blurdybloop", ("UIDNEXT", "MESSAGES")),
    ),
    ("A202 EXPUNGE", c.Simple("A202", "EXPUNGE")),
    ("A003 UID EXPUNGE 3000:3002", c.Expunge("A003", "EXPUNGE", S("3000:3002"))),
    ("A003 COPY 2:4 MEETING", c.Copy("A003", "COPY", S("2:4"), "MEETING")),
    ("a UID MOVE 42:69 foo", c.Copy("a", "MOVE", S("42:69"), "foo", uid=True)),
    ("a MOVE $ foo", c.Copy("a", "MOVE", S("$"), "foo")),
    ("a ID NIL", c.Id("a", "ID", None)),
    (
        'a023 ID ("name" "sodr" "version" "19.34" "vendor" NIL)',
        c.Id("a023", "ID", (("name", "sodr"), ("version", "19.34"), ("vendor", None))),
    ),
    (
        "A003 STORE 2:4 +FLAGS (\\Deleted)",
        c.Store("A003", "STORE", S("2:4"), "+", ("\\Deleted",)),
    ),
    (
        "a STORE 1 -FLAGS.SILENT \\Seen $Junk",
        c.Store("a", "STORE", S("1"), "-", ("\\Seen", "$Junk"), silent=True),
    ),
    ("a STORE 1 FLAGS ()", c.Store("a", "STORE", S("1"), "", ())),
    (
        "d105 STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)",
        c.Store(
            "d105", "STORE", S("7,5,9"), "+", ("\\Deleted",), silent=True, unchanged_since=320162338
        ),
    ),
    (
        "a UID STORE 1:* FLAGS (\\Seen)",
        c.Store("a", "STORE", S("1:*"), "", ("\\Seen",), uid=True),
    ),
]


@pytest.mark.parametrize(("line", "expected"), TABLE, ids=[t[0][:40] for t in TABLE])
def test_command_table(line: str, expected: c.Command) -> None:
    """Each command line parses to exactly the expected typed command."""
    assert cmd(line) == expected


def test_append_rfc_example() -> None:
    """RFC 9051 §6.3.12: APPEND with flags, date-time and a literal message."""
    message = b"Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n\r\nHello Joe\r\n"
    raw = b'A003 APPEND saved-messages (\\Seen) "07-Feb-1994 21:52:25 -0800" {%d}\r\n' % len(
        message
    )
    command = cmd(raw + message)
    assert isinstance(command, c.Append)
    assert command.mailbox == "saved-messages"
    (msg,) = command.messages
    assert msg.flags == ("\\Seen",)
    assert msg.date == dt.datetime(
        1994, 2, 7, 21, 52, 25, tzinfo=dt.timezone(-dt.timedelta(hours=8))
    )
    assert msg.data == message


def test_multiappend_and_literal8() -> None:
    """RFC 3502 MULTIAPPEND: several messages; RFC 3516 ~{n} marks a binary one."""
    raw = b'a APPEND x {2+}\r\nab (\\Draft) " 1-Jan-2024 00:00:00 +0100" ~{3+}\r\nc\0d'
    command = cmd(raw)
    assert isinstance(command, c.Append)
    first, second = command.messages
    assert first == c.AppendMessage((), None, b"ab")
    assert second == c.AppendMessage(
        ("\\Draft",), dt.datetime(2024, 1, 1, tzinfo=UTC1), b"c\0d", binary=True
    )


def test_literal_arguments() -> None:
    """Any astring may be a literal, including 8-bit UTF-8 mailbox names."""
    raw = "a LOGIN {4+}\r\nfred {6+}\r\np\u00e4ss!\r\n".encode()
    assert cmd(raw.removesuffix(b"\r\n")) == c.Login("a", "LOGIN", "fred", "p\u00e4ss!")


F = Attribute
FETCH_TABLE: list[tuple[str, c.Fetch]] = [
    (
        "A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])",
        c.Fetch(
            "A654", "FETCH", S("2:4"), (F("FLAGS"), Section((), "HEADER.FIELDS", ("DATE", "FROM")))
        ),
    ),
    (
        "a FETCH 1 ALL",
        c.Fetch(
            "a", "FETCH", S("1"), (F("FLAGS"), F("INTERNALDATE"), F("RFC822.SIZE"), F("ENVELOPE"))
        ),
    ),
    (
        "a FETCH 1 fast",
        c.Fetch("a", "FETCH", S("1"), (F("FLAGS"), F("INTERNALDATE"), F("RFC822.SIZE"))),
    ),
    (
        "a FETCH 1 FULL",
        c.Fetch(
            "a",
            "FETCH",
            S("1"),
            (F("FLAGS"), F("INTERNALDATE"), F("RFC822.SIZE"), F("ENVELOPE"), F("BODY")),
        ),
    ),
    ("a FETCH * UID", c.Fetch("a", "FETCH", S("*"), (F("UID"),))),
    (
        "a FETCH 1 (UID RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY MODSEQ)",
        c.Fetch(
            "a",
            "FETCH",
            S("1"),
            tuple(
                F(n) for n in ("UID", "RFC822.SIZE", "ENVELOPE", "BODYSTRUCTURE", "BODY", "MODSEQ")
            ),
        ),
    ),
    ("a FETCH 1 BODY[]", c.Fetch("a", "FETCH", S("1"), (Section(),))),
    (
        "a FETCH 1 BODY.PEEK[]<0.1024>",
        c.Fetch("a", "FETCH", S("1"), (Section(partial=(0, 1024), peek=True),)),
    ),
    ("a FETCH 1 BODY[1.2.3]", c.Fetch("a", "FETCH", S("1"), (Section((1, 2, 3)),))),
    ("a FETCH 1 BODY[4.2.HEADER]", c.Fetch("a", "FETCH", S("1"), (Section((4, 2), "HEADER"),))),
    ("a FETCH 1 BODY[3.MIME]", c.Fetch("a", "FETCH", S("1"), (Section((3,), "MIME"),))),
    ("a FETCH 1 BODY[TEXT]", c.Fetch("a", "FETCH", S("1"), (Section((), "TEXT"),))),
    (
        "a FETCH 1 BODY.PEEK[HEADER.FIELDS.NOT (Received)]",
        c.Fetch(
            "a", "FETCH", S("1"), (Section((), "HEADER.FIELDS.NOT", ("RECEIVED",), peek=True),)
        ),
    ),
    (
        "a FETCH 1 (BINARY[1] BINARY.PEEK[2]<5.6> BINARY.SIZE[1] BINARY[])",
        c.Fetch(
            "a",
            "FETCH",
            S("1"),
            (
                Section((1,), binary=True),
                Section((2,), partial=(5, 6), peek=True, binary=True),
                BinarySize((1,)),
                Section(binary=True),
            ),
        ),
    ),
    (
        "s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)",
        c.Fetch("s100", "FETCH", S("1:*"), (F("FLAGS"),), uid=True, changed_since=12345),
    ),
    (
        "s100 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)",
        c.Fetch(
            "s100",
            "FETCH",
            S("300:500"),
            (F("FLAGS"),),
            uid=True,
            changed_since=12345,
            vanished=True,
        ),
    ),
]


@pytest.mark.parametrize(("line", "expected"), FETCH_TABLE, ids=[t[0][:40] for t in FETCH_TABLE])
def test_fetch_table(line: str, expected: c.Fetch) -> None:
    """FETCH macros, items, sections, partials, BINARY and CONDSTORE modifiers."""
    assert cmd(line) == expected


DATE = dt.date(1994, 2, 1)
SEARCH_TABLE: list[tuple[str, s.SearchKey]] = [
    ("ALL", s.FlagKey("ALL")),
    ("answered", s.FlagKey("ANSWERED")),
    *(
        (k, s.FlagKey(k))
        for k in (
            [
                "DELETED",
                "DRAFT",
                "FLAGGED",
                "SEEN",
                "UNANSWERED",
                "UNDELETED",
                "UNDRAFT",
                "UNFLAGGED",
                "UNSEEN",
            ]
        )
    ),
    *(
        (f"{k} x", s.TextKey(k, "x"))
        for k in ["BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"]
    ),
    ('SUBJECT "hello world"', s.TextKey("SUBJECT", "hello world")),
    *(
        (f"{k} 1-Feb-1994", s.DateKey(k, DATE))
        for k in (["BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"])
    ),
    ('SINCE "01-Feb-1994"', s.DateKey("SINCE", DATE)),
    ("HEADER Message-ID <a@b>", s.HeaderKey("Message-ID", "<a@b>")),
    ("KEYWORD $Forwarded", s.KeywordKey("KEYWORD", "$Forwarded")),
    ("UNKEYWORD Junk", s.KeywordKey("UNKEYWORD", "Junk")),
    ("LARGER 1000", s.SizeKey("LARGER", 1000)),
    ("SMALLER 5", s.SizeKey("SMALLER", 5)),
    ("UID 1:100", s.SequenceKey(S("1:100"), uid=True)),
    ("2:4,*", s.SequenceKey(S("2:4,*"))),
    ("$", s.SequenceKey(S("$"))),
    ("NOT SEEN", s.Not(s.FlagKey("SEEN"))),
    (
        "OR SEEN (FLAGGED DRAFT)",
        s.Or(s.FlagKey("SEEN"), s.And((s.FlagKey("FLAGGED"), s.FlagKey("DRAFT")))),
    ),
    ("MODSEQ 620162338", s.ModSeqKey(620162338)),
    ('MODSEQ "/flags/\\\\draft" all 620162338', s.ModSeqKey(620162338, "/flags/\\draft", "all")),
]


@pytest.mark.parametrize(("keys", "expected"), SEARCH_TABLE, ids=[t[0] for t in SEARCH_TABLE])
def test_search_keys(keys: str, expected: s.SearchKey) -> None:
    """Every RFC 9051 §6.4.4 search key (and MODSEQ, `$`) parses to its typed node."""
    assert cmd(f"a SEARCH {keys}") == c.Search("a", "SEARCH", s.And((expected,)))


def test_search_rfc_example() -> None:
    """RFC 9051 §6.4.4: FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith", with CHARSET and RETURN."""
    command = cmd(
        "A282 UID SEARCH RETURN (MIN COUNT SAVE) CHARSET UTF-8 "
        'FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"'
    )
    assert command == c.Search(
        "A282",
        "SEARCH",
        s.And((s.FlagKey("FLAGGED"), s.DateKey("SINCE", DATE), s.Not(s.TextKey("FROM", "Smith")))),
        uid=True,
        charset="UTF-8",
        returns=("MIN", "COUNT", "SAVE"),
    )


def test_search_return_empty() -> None:
    """RETURN () asks for ESEARCH with the default ALL result."""
    command = cmd("a SEARCH RETURN () ALL")
    assert isinstance(command, c.Search)
    assert command.returns == ()


BAD = [
    "a",
    "a ",
    "+ NOOP",
    "a NOOP extra",
    "a FROB",
    "a UID LOGIN x y",
    "a LOGIN x",
    'a LOGIN "unterminated y',
    'a LOGIN "bad\\escape" y',
    "a LOGIN NIL(",
    "a SELECT",
    "a SELECT x (FOO)",
    "a FETCH 0 FLAGS",
    "a FETCH 1 (FLAGS",
    "a FETCH 1 NOSUCH",
    "a FETCH 1 BODY[MIME]",
    "a FETCH 1 BINARY[HEADER]",
    "a FETCH 1 BODY[]<1.0>",
    "a FETCH 1 FLAGS (VANISHED)",
    "a UID FETCH 1 FLAGS (VANISHED)",
    "a STORE 1 FLAGZ (\\Seen)",
    "a SEARCH",
    "a SEARCH FOO",
    "a SEARCH SINCE 30-Feb-2020",
    "a SEARCH SINCE 1-Foo-2020",
    "a SEARCH OR SEEN",
    "a SEARCH RETURN (BOGUS) ALL",
    "a SEARCH " + "NOT " * 100 + "ALL",
    "a SEARCH " + "(" * 100 + "ALL" + ")" * 100,
    "a APPEND x",
    'a APPEND x "32-Jan-2020 00:00:00 +0000" {1+}\r\nx',
    "a AUTHENTICATE PLAIN !!!",
    'a ID ("a")',
    "a ENABLE",
    "a STATUS x ()",
    'a LSUB (x) "" *',
]


@pytest.mark.parametrize("line", BAD)
def test_bad_syntax(line: str) -> None:
    """Malformed commands raise BadSyntax (the reader turns it into a tagged BAD)."""
    with pytest.raises(BadSyntax):
        cmd(line)


def test_nul_only_in_literal8() -> None:
    """RFC 9051 §4.3: a literal may not hold NUL; only APPEND's literal8 ~{n} may."""
    with pytest.raises(BadSyntax):
        cmd(b"a LOGIN {3+}\r\na\0b pw")
    with pytest.raises(BadSyntax):
        cmd(b"a LOGIN ~{1+}\r\nx pw")
    with pytest.raises(BadSyntax):
        cmd(b"a APPEND x {3+}\r\na\0b")


def test_utf8_mailbox_names_are_kept() -> None:
    """IMAP4rev2 names arrive as UTF-8 and are not mUTF-7 decoded by the parser."""
    assert cmd('a SELECT "Entw\u00fcrfe"'.encode()) == c.Select("a", "SELECT", "Entw\u00fcrfe")
    assert cmd("a SELECT Entw&APw-rfe") == c.Select("a", "SELECT", "Entw&APw-rfe")


def test_nil_is_not_an_astring_atom_prefix() -> None:
    """NIL is matched as a whole word only: an ID value NILS is a bad ID list, not NIL."""
    with pytest.raises(BadSyntax):
        cmd('a ID ("x" NILS)')
