"""SEARCH evaluation (RFC 9051 §6.4.4, RFC 7162 §3.1.5, RFC 5182) on realistic messages."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roost.imap.grammar import Cursor
from roost.imap.search import And, TextKey, parse_search_keys
from roost.imap.searching import Candidate, decode_words, matches, needs_message
from tests.imap.messages import DIGEST_LIKE, EIGHT_BIT, MIXED, SIMPLE, crlf

PARIS = dt.timezone(dt.timedelta(hours=1))
BASE = Candidate(
    seq=3,
    uid=30,
    flags=frozenset({"\\Seen", "\\Flagged", "$Forwarded"}),
    size=1500,
    internal_date=dt.datetime(2025, 3, 5, 0, 30, tzinfo=PARIS),  # 4 Mar 23:30 UTC
    modseq=120,
)


def keys(text: str) -> And:
    return parse_search_keys(Cursor(text.encode() + b"\r\n"))


def ok(
    text: str,
    message: bytes | None = SIMPLE,
    c: Candidate = BASE,
    *,
    saved: frozenset[int] | None = None,
) -> bool:
    return matches(keys(text), c, message, max_seq=10, max_uid=100, saved=saved)


# --- flags, sizes, sequence sets, MODSEQ ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ALL", True),
        ("SEEN", True),
        ("UNSEEN", False),
        ("FLAGGED", True),
        ("UNFLAGGED", False),
        ("ANSWERED", False),
        ("UNANSWERED", True),
        ("DELETED", False),
        ("UNDELETED", True),
        ("DRAFT", False),
        ("UNDRAFT", True),
        ("RECENT", False),
        ("NEW", False),
        ("OLD", True),
        ("KEYWORD $forwarded", True),
        ("KEYWORD $FORWARDED", True),
        ("KEYWORD $Junk", False),
        ("UNKEYWORD $Junk", True),
        ("UNKEYWORD $Forwarded", False),
        ("LARGER 1499", True),
        ("LARGER 1500", False),
        ("SMALLER 1501", True),
        ("SMALLER 1500", False),
        ("MODSEQ 120", True),
        ("MODSEQ 121", False),
        ('MODSEQ "/flags/\\\\seen" all 100', True),
        ("3", True),
        ("1:2,4:*", False),
        ("2:4", True),
        ("*", False),
        ("*:3", True),  # 10:3 == 3:10
        ("UID 30", True),
        ("UID 1:29,31:*", False),
        ("UID 25:35", True),
        ("NOT SEEN", False),
        ("NOT NOT SEEN", True),
        ("OR ANSWERED FLAGGED", True),
        ("OR ANSWERED DELETED", False),
        ("SEEN FLAGGED UID 30", True),
        ("SEEN (FLAGGED DELETED)", False),
        ("(OR DRAFT (SEEN LARGER 10)) NOT UID 1:10", True),
    ],
)
def test_keys_without_message(text: str, expected: bool) -> None:
    assert not needs_message(keys(text))
    assert ok(text, None) is expected


def test_star_is_the_largest_number() -> None:
    last = Candidate(10, 100, frozenset(), 1, BASE.internal_date, 1)
    assert ok("*", None, last)
    assert ok("UID *", None, last)
    assert not ok("UID *", None, BASE)
    assert ok("UID 50:*", None, last)


def test_saved_result() -> None:
    assert ok("$", None, saved=frozenset({30, 31}))
    assert ok("UID $", None, saved=frozenset({30}))
    assert not ok("$", None, saved=frozenset({31}))
    assert not ok("$", None, saved=frozenset())
    assert not ok("$", None, saved=None)  # no SEARCH SAVE yet: `$` is empty (RFC 5182 §2.1)
    assert ok("NOT $", None, saved=None)


# --- dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Internal date 5-Mar-2025 00:30 +0100: the day counts in its own zone.
        ("ON 5-Mar-2025", True),
        ("ON 4-Mar-2025", False),
        ("SINCE 5-Mar-2025", True),
        ("SINCE 6-Mar-2025", False),
        ("BEFORE 5-Mar-2025", False),
        ("BEFORE 6-Mar-2025", True),
        # SIMPLE's Date: Wed, 5 Mar 2025 12:00:00 +0100.
        ("SENTON 5-Mar-2025", True),
        ("SENTON 4-Mar-2025", False),
        ("SENTSINCE 5-Mar-2025", True),
        ("SENTSINCE 6-Mar-2025", False),
        ("SENTBEFORE 5-Mar-2025", False),
        ("SENTBEFORE 6-Mar-2025", True),
    ],
)
def test_dates(text: str, expected: bool) -> None:
    assert ok(text) is expected


def test_sent_date_disregards_timezone() -> None:
    # MIXED: Tue, 04 Mar 2025 23:30:00 -0800, which is 5 Mar in UTC; the written day counts.
    assert ok("SENTON 4-Mar-2025", MIXED)
    assert not ok("SENTON 5-Mar-2025", MIXED)


@pytest.mark.parametrize(
    "date",
    [None, "not a date", "Wed, 31 Feb 2025 10:00:00 +0000", "", "99 Foo 12345"],
)
def test_missing_or_bad_date_never_matches_sent_keys(date: str | None) -> None:
    header = "" if date is None else f"Date: {date}\n"
    msg = crlf(f"From: a@b\n{header}\nbody\n")
    for text in ("SENTON 1-Jan-2025", "SENTBEFORE 1-Jan-2100", "SENTSINCE 1-Jan-1900"):
        assert not ok(text, msg)
        assert ok(f"NOT {text}", msg)


def test_two_digit_year() -> None:
    msg = crlf("Date: 5 Mar 99 10:00 GMT\n\nx\n")
    assert ok("SENTON 5-Mar-1999", msg)


# --- header keys -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message", "expected"),
    [
        ('FROM "bob@example.com"', SIMPLE, True),
        ("FROM BOB", SIMPLE, True),
        ("FROM alice", SIMPLE, False),
        ("TO alice", SIMPLE, True),
        ("SUBJECT lunch", SIMPLE, True),
        ("SUBJECT dinner", SIMPLE, False),
        ("CC dave", MIXED, True),
        ("CC dave", SIMPLE, False),
        ("BCC anyone", MIXED, False),
        # RFC 2047 in From and a folded, encoded Subject.
        ('FROM "Renée"', MIXED, True),
        ('FROM "RENÉE DUPONT"', MIXED, True),
        ('SUBJECT "café report for march"', MIXED, True),
        ('TO "carol"', MIXED, True),  # second line of a folded To
        # Raw 8-bit UTF-8 headers (RFC 6532).
        ('FROM "jörg"', EIGHT_BIT, True),
        ('SUBJECT "GRÜSSE"', EIGHT_BIT, True),  # casefold: ß == ss
        ('SUBJECT "köln"', EIGHT_BIT, True),
        ("HEADER X-Folded first", SIMPLE, True),
        ('HEADER x-folded "first second"', SIMPLE, False),  # unfolding keeps the tab
        ('HEADER X-FOLDED "second"', SIMPLE, True),
        ('HEADER Message-ID "<simple.1@"', SIMPLE, True),
        ('HEADER X-Folded ""', SIMPLE, True),
        ('HEADER X-Missing ""', SIMPLE, False),
        ('HEADER Subject ""', EIGHT_BIT, True),
        ('HEADER Content-Type "multipart/mixed"', MIXED, True),
        # Only the top-level header counts for header keys.
        ('SUBJECT "Inner secret"', MIXED, False),
        ('FROM "eve"', MIXED, False),
    ],
)
def test_header_keys(text: str, message: bytes, expected: bool) -> None:
    assert needs_message(keys(text))
    assert ok(text, message) is expected


def test_header_keys_without_message_do_not_match() -> None:
    assert not ok("FROM bob", None)


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("=?UTF-8?Q?Ren=C3=A9e?=", "Renée"),
        ("=?utf-8?b?w6k=?= =?utf-8?b?w6k=?=", "éé"),  # whitespace between words dropped
        ("=?ISO-8859-1?Q?a_b?= c", "a b c"),
        ("=?x-unknown?Q?caf=C3=A9?=", "café"),  # unknown charset read as UTF-8
        ("=?rot13?Q?abc?=", "abc"),  # not a text codec
        ("=?utf-8?B?!!!?=", "=?utf-8?B?!!!?="),  # undecodable: left as written
        ("=?utf-8*fr?Q?oui?=", "oui"),  # RFC 2231 language
        ("plain", "plain"),
    ],
)
def test_decode_words(raw: str, decoded: str) -> None:
    assert decode_words(raw) == decoded


# --- body and text ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message", "expected"),
    [
        ("BODY lunch", SIMPLE, True),
        ("BODY LUNCH", SIMPLE, True),
        ("BODY dinner", SIMPLE, False),
        ("BODY Lunch?", SIMPLE, False),  # the Subject is not body
        ("TEXT Lunch?", SIMPLE, True),  # but TEXT covers the header too
        ("TEXT example.com", SIMPLE, True),
        # QP with a soft line break and UTF-8.
        ('BODY "RÉSUMÉ DU CAFÉ"', MIXED, True),
        ('BODY "très longue"', MIXED, True),
        # Base64 ISO-8859-1 text inside the forwarded message; its HTML alternative.
        ('BODY "éléphant"', MIXED, True),
        ('BODY "only</b> words"', MIXED, True),
        # The forwarded message's header is part of the outer body.
        ('BODY "Inner secret"', MIXED, True),
        # The PDF attachment (base64, not text) and the preamble are skipped.
        ("BODY JVBER", MIXED, False),
        ("BODY preamble", MIXED, False),
        ("BODY report.pdf", MIXED, False),
        ('TEXT "report"', MIXED, True),
        ('BODY "straße"', EIGHT_BIT, True),
        ('BODY "GRÖSSE"', EIGHT_BIT, True),
        ('BODY "inner body line"', DIGEST_LIKE, True),
        ('BODY "inner plain"', DIGEST_LIKE, True),
        ("OR BODY nothing-here SUBJECT forwarded", DIGEST_LIKE, True),
        ("NOT BODY lunch", SIMPLE, False),
    ],
)
def test_body_and_text(text: str, message: bytes, expected: bool) -> None:
    assert ok(text, message) is expected


def test_charset_and_encodings_in_body() -> None:
    msg = crlf(
        "Content-Type: text/plain; charset=windows-1252\n"
        "Content-Transfer-Encoding: quoted-printable\n\n"
        "Na=EFve =80uro\n"
    )
    assert ok('BODY "naïve €uro"', msg)
    unknown = crlf("Content-Type: text/plain\nContent-Transfer-Encoding: x-weird\n\nplain words\n")
    assert ok('BODY "plain words"', unknown)  # undecodable: searched as it is
    bad_b64 = crlf("Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n*** oops\n")
    assert ok("BODY oops", bad_b64)  # not base64 after all: searched as it is
    mislabelled = "Content-Type: text/plain; charset=us-ascii\n\nnaïve\n".encode()
    assert ok('BODY "NAÏVE"', mislabelled)


def test_body_text_is_capped() -> None:
    from roost.imap import searching

    filler = b"a" * (searching.MAX_TEXT + 10)
    msg = b"Subject: big\r\n\r\n" + filler + b"needle\r\n"
    assert not ok("BODY needle", msg)
    assert ok("BODY aaaa", msg)


def test_cheap_keys_short_circuit() -> None:
    # A flag mismatch decides before the (absent) message would be needed.
    assert not ok("BODY lunch DELETED", None)
    assert ok("BODY lunch SEEN", SIMPLE)


# --- never raises --------------------------------------------------------------------------------

_KEYS = [
    "BODY x",
    'TEXT "é"',
    "FROM a",
    'HEADER Subject ""',
    "SENTON 1-Jan-2020",
    "SENTBEFORE 1-Jan-2020",
    "OR SUBJECT x NOT BODY y",
]
_LINES = st.sampled_from(
    [
        b"Content-Type: multipart/mixed; boundary=b\r\n",
        b"Content-Type: message/rfc822\r\n",
        b"Content-Type: text/plain; charset=utf-16\r\n",
        b'Content-Type: text/plain; charset="bogus"\r\n',
        b"Content-Transfer-Encoding: base64\r\n",
        b"Content-Transfer-Encoding: quoted-printable\r\n",
        b"Subject: =?utf-8?B?w6k?= =?x?Q?=FF?=\r\n",
        b"Date: Mon, 99 Foo 2020 99:99:99 +9999\r\n",
        b"Date: 1 Jan 10000 00:00 +0000\r\n",
        b"--b\r\n",
        b"--b--\r\n",
        b"\r\n",
        b" folded\r\n",
        b"\xff\xfe\x00body\r\n",
        b"=C3=A9=\r\n",
    ]
)
_MESSAGES = st.one_of(st.binary(max_size=400), st.lists(_LINES, max_size=30).map(b"".join))


@settings(max_examples=300, deadline=None)
@given(_MESSAGES, st.sampled_from(_KEYS))
def test_matches_never_raises(message: bytes, text: str) -> None:
    assert ok(text, message) in (True, False)


def test_header_search_across_a_fold_and_in_encoded_words() -> None:
    """The fast refusal on raw octets must not lose a match split by folding."""
    msg = (
        b"From: a@b.example\r\nSubject: hello\r\n world\r\n"
        b"To: =?utf-8?q?J=C3=BCrgen?= <j@x>\r\n\r\nx"
    )
    cand = Candidate(1, 1, frozenset(), len(msg), dt.datetime(2026, 1, 1, tzinfo=dt.UTC), 1)
    for key, hit in (("SUBJECT", "hello world"), ("TO", "jürgen"), ("SUBJECT", "absent")):
        tree = And((TextKey(key, hit),))
        assert matches(tree, cand, msg, max_seq=1, max_uid=1, saved=None) is (hit != "absent")


# --- header keys over the kept header block ---------------------------------------------------

_HEADER_LINES = st.lists(
    st.sampled_from(
        [
            "From: Carol <carol@example.com>\r\n",
            "FROM : CAROL\r\n",
            "From: =?utf-8?q?Car=C3=B6l?=\r\n",
            "From: Carö\r\n",
            "To: bob,\r\n carol@x\r\n",
            "Subject: re: hello\r\n",
            " world\r\n",
            "\tcarol\r\n",
            "Cc:\r\n",
            "X-From: carol\r\n",
            "Subject: STRASSE\n",
            "Subject: straße\r\n",
            "\r\n",
            "body carol\r\n",
            "Fromage: carol\r\n",
            "Date: Tue, 4 Mar 2025 10:00:00 +0000\r\n",
        ]
    ),
    max_size=10,
)
_HEADER_SEARCHES = [
    'FROM "carol"',
    'FROM "CAROL@EXAMPLE"',
    'FROM "carö"',
    "FROM carol TO bob",
    'TO "bob, carol"',
    'SUBJECT "hello world"',
    'SUBJECT "re: hello"',
    'SUBJECT "ss"',
    'SUBJECT "ß"',
    'CC ""',
    'HEADER X-From "carol"',
    'HEADER Fromage ""',
    "OR FROM carol NOT SUBJECT hello",
    "SEEN FROM carol",
    'SENTBEFORE 1-Jan-2026 FROM "c"',
    'HEADER "From" "carol@"',
]


def _reference_header(block: bytes, name: str, value: str) -> bool:
    """The header key as fields() defines it, without the ASCII shortcut."""
    from roost.imap.searching import _split_fields

    values = [v for n, v in _split_fields(block) if n == name]
    if not values:
        return False
    return not value or any(value.casefold() in v.casefold() for v in values)


@settings(max_examples=300)
@given(_HEADER_LINES, st.sampled_from([b"", b"Received: from carol\r\n"]))
def test_header_keys_on_the_kept_block_match_as_on_the_whole_message(
    lines: list[str], prefix: bytes
) -> None:
    """Header SEARCH on prefix + the kept header block gives what it gives on the whole
    message; the raw prefilter never drops a match; the ASCII shortcut agrees with fields()."""
    from roost.imap.render import header_end
    from roost.imap.searching import header_needles, may_match, only_header
    from roost.message.wire import header_block

    blob = "".join(lines).encode("utf-8") + b"body: carol\r\n"
    whole = prefix + blob
    kept = prefix + header_block(blob)
    for text in _HEADER_SEARCHES:
        key = keys(text)
        assert only_header(key)
        got = ok(text, whole)
        assert ok(text, kept) == got, text
        if got:
            assert may_match(kept, header_needles(key)), text
    block = whole[: header_end(whole)]
    for name, value in [("from", "carol"), ("subject", "hello world"), ("cc", ""), ("to", "b")]:
        assert ok(f'HEADER {name} "{value}"', whole) == _reference_header(block, name, value)


def test_only_header_and_needles() -> None:
    from roost.imap.searching import header_needles, only_header

    assert only_header(keys("FROM carol UNSEEN LARGER 10 UID 1:5 OR TO a SENTON 1-Jan-2020"))
    assert not only_header(keys("FROM carol SINCE 1-Jan-2020"))
    assert not only_header(keys("BODY carol"))
    assert not only_header(keys("TEXT carol"))
    assert header_needles(keys('FROM Carol SUBJECT "a b" NOT TO x CC "" SUBJECT "é"')) == [
        b"carol", b"a b",
    ]  # fmt: skip
