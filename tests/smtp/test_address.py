"""Path and mailbox parsing (RFC 5321 §4.1.2, §4.5.3.1; RFC 6531)."""

from __future__ import annotations

import pytest

from roost.smtp.address import (
    AddressError,
    Utf8AddressError,
    parse_path,
    split_address,
    split_path,
)


def mail(text: str, *, utf8: bool = False) -> str:
    return parse_path(text, allow_null=True, allow_postmaster=False, utf8=utf8)


def rcpt(text: str, *, utf8: bool = False) -> str:
    return parse_path(text, allow_null=False, allow_postmaster=True, utf8=utf8)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<a@b.example>", "a@b.example"),
        ("<A.B+tag@Example.COM>", "A.B+tag@example.com"),  # domain folded, local kept
        ("<!#$%&'*+/=?^_`{|}~-@x.example>", "!#$%&'*+/=?^_`{|}~-@x.example"),
        ('<"a b"@x.example>', '"a b"@x.example'),
        ('<"a\\"b"@x.example>', '"a\\"b"@x.example'),
        ('<"a>b"@x.example>', '"a>b"@x.example'),
        ("<a@[192.0.2.1]>", "a@[192.0.2.1]"),
        ("<a@[IPv6:2001:DB8::1]>", "a@[IPv6:2001:db8::1]"),
        ("<a@[x-tag:stuff]>", "a@[x-tag:stuff]"),
        ("<@r1.example,@r2.example:a@b.example>", "a@b.example"),
        ("<a@b-c.example>", "a@b-c.example"),
        ("<a@localhost>", "a@localhost"),
        ("<>", ""),
    ],
)
def test_valid_paths(text: str, expected: str) -> None:
    """Valid RFC 5321 paths are normalised to the bare address."""
    assert mail(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "a@b.example",
        "<a@b.example",
        "a@b.example>",
        "<a>",
        "<@b.example>",
        "<a@>",
        "<.a@b.example>",
        "<a.@b.example>",
        "<a..b@b.example>",
        "<a b@x.example>",
        "<a@-b.example>",
        "<a@b-.example>",
        "<a@b..example>",
        "<a@b.example.>",
        "<a@[1.2.3]>",
        "<a@[IPv6:zz::1]>",
        "<a@[]>",
        '<"a@b.example>',
        "<a@b@c.example>",
        "<a@b_c.example>",
        "<a\\b@c.example>",
        "<@:a@b.example>",
    ],
)
def test_invalid_paths(text: str) -> None:
    """Malformed paths raise AddressError."""
    with pytest.raises(AddressError):
        mail(text)


def test_null_path_only_where_allowed() -> None:
    """<> is the null reverse-path for MAIL only."""
    assert mail("<>") == ""
    with pytest.raises(AddressError):
        rcpt("<>")


@pytest.mark.parametrize("text", ["<postmaster>", "<Postmaster>", "<POSTMASTER>"])
def test_postmaster(text: str) -> None:
    """<Postmaster> without domain is allowed for RCPT, in any case (RFC 5321 §4.1.1.3)."""
    assert rcpt(text) == "postmaster"
    with pytest.raises(AddressError):
        mail(text)


def test_length_limits() -> None:
    """Local part 64, domain 255, path 256 octets (RFC 5321 §4.5.3.1)."""
    assert mail(f"<{'a' * 64}@b.example>")
    with pytest.raises(AddressError):
        mail(f"<{'a' * 65}@b.example>")
    domain = ".".join(["d" * 60] * 4)  # 243 octets
    assert mail(f"<a@{domain}>")
    with pytest.raises(AddressError):
        mail(f"<{'a' * 10}@{domain}.{'e' * 10}>")  # path over 256


def test_utf8_needs_smtputf8() -> None:
    """Non-ASCII addresses raise Utf8AddressError unless utf8 is allowed (RFC 6531 §3.2)."""
    with pytest.raises(Utf8AddressError):
        mail("<jöran@example.com>")
    assert mail("<jöran@bücher.example>", utf8=True) == "jöran@bücher.example"
    assert mail("<用户@例子.广告>", utf8=True) == "用户@例子.广告"


def test_utf8_syntax_error_is_not_utf8_error() -> None:
    """A non-ASCII address that is malformed anyway is a plain syntax error."""
    with pytest.raises(AddressError) as info:
        mail("<jö ran@example.com>")
    assert not isinstance(info.value, Utf8AddressError)


def test_utf8_length_counts_octets() -> None:
    """Limits count UTF-8 octets, not characters."""
    with pytest.raises(AddressError):
        mail(f"<{'ö' * 33}@b.example>", utf8=True)  # 66 octets


def test_split_address() -> None:
    """split_address splits at the last @."""
    assert split_address('"a@b"@c.example') == ('"a@b"', "c.example")
    assert split_address("postmaster") == ("postmaster", "")


def test_split_path_skips_quoted_gt() -> None:
    """split_path finds the closing > outside quoted strings."""
    assert split_path('<"a>b"@c> SIZE=1') == ('<"a>b"@c>', " SIZE=1")
    assert split_path("no-bracket") == ("", "no-bracket")
    assert split_path("<unterminated") == ("", "<unterminated")
