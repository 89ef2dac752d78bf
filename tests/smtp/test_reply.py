"""Reply constants and formatting (RFC 5321 §4.2, RFC 2034, RFC 3463)."""

from __future__ import annotations

import re

from roost.smtp import reply as r
from roost.smtp.reply import Reply

CONSTANTS = {name: value for name, value in vars(r).items() if isinstance(value, Reply)}


def test_constant_names_match_codes() -> None:
    """Each constant's name starts with C<code>_."""
    for name, value in CONSTANTS.items():
        assert name.startswith(f"C{value.code}_"), name


def test_enhanced_code_class_matches() -> None:
    """An enhanced code's class digit equals the reply's first digit (RFC 3463 §2)."""
    for name, value in CONSTANTS.items():
        if value.enhanced:
            assert re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", value.enhanced), name
            assert value.enhanced[0] == str(value.code)[0], name


def test_only_greeting_ehlo_and_334_354_lack_enhanced_codes() -> None:
    """ENHANCEDSTATUSCODES: every reply but greeting, HELO/EHLO and 3xx carries one."""
    bare = {name for name, value in CONSTANTS.items() if not value.enhanced}
    assert bare == {"C220_GREETING", "C250_HELO", "C334_CHALLENGE", "C354_START_DATA"}


def test_required_constants_exist() -> None:
    """The constants the session relies on are defined with the right codes."""
    expected = {
        "C221_BYE": (221, "2.0.0"),
        "C235_AUTH_OK": (235, "2.7.0"),
        "C252_VRFY": (252, "2.5.2"),
        "C452_TOO_MANY_RECIPIENTS": (452, "4.5.3"),
        "C500_UNRECOGNIZED": (500, "5.5.2"),
        "C500_LINE_TOO_LONG": (500, "5.5.2"),
        "C503_BAD_SEQUENCE": (503, "5.5.1"),
        "C504_UNKNOWN_MECHANISM": (504, "5.5.4"),
        "C530_AUTH_REQUIRED": (530, "5.7.0"),
        "C535_AUTH_FAILED": (535, "5.7.8"),
        "C538_ENCRYPTION_REQUIRED": (538, "5.7.11"),
        "C550_NO_SUCH_USER": (550, "5.1.1"),
        "C550_RELAY_DENIED": (550, "5.7.1"),
        "C552_TOO_BIG": (552, "5.3.4"),
        "C553_SENDER_NOT_OWNED": (553, "5.7.1"),
        "C553_UTF8_REQUIRED": (553, "5.6.7"),
        "C555_UNKNOWN_PARAM": (555, "5.5.4"),
    }
    for name, (code, enhanced) in expected.items():
        assert (CONSTANTS[name].code, CONSTANTS[name].enhanced) == (code, enhanced), name


def test_multiline_format() -> None:
    """Multi-line replies use "-" continuation and repeat the enhanced code (RFC 2034 §4)."""
    assert Reply(550, "5.1.1", "a\nb").format() == b"550-5.1.1 a\r\n550 5.1.1 b\r\n"


def test_with_text_keeps_codes() -> None:
    """with_text changes only the text."""
    assert r.C250_OK.with_text("Queued as X") == Reply(250, "2.0.0", "Queued as X")
