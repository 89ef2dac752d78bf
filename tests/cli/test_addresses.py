"""Address normalisation shared by the CLI and SMTP recipient resolution."""

from __future__ import annotations

import pytest

from roost.accounts.addresses import (
    base_address,
    is_catch_all,
    normalize_address,
    normalize_alias_source,
    normalize_domain,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("user@example.com", "user@example.com"),
        ("  User@Example.COM ", "user@example.com"),
        ("first.last+tag@sub.example.org.", "first.last+tag@sub.example.org"),
        ("o'neil@example.com", "o'neil@example.com"),
        ("Jörg@Bücher.Example", "jörg@bücher.example"),
        ("x@[192.0.2.1]", "x@[192.0.2.1]"),
        ("x@[IPv6:2001:DB8::1]", "x@[ipv6:2001:db8::1]"),
    ],
)
def test_normalize_address(text: str, expected: str) -> None:
    """Addresses are trimmed, lower-cased and keep UTF-8."""
    assert normalize_address(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "user",
        "@example.com",
        "user@",
        "us er@example.com",
        "user..x@example.com",
        ".user@example.com",
        "user.@example.com",
        '"quoted"@example.com',
        "user@-bad.example",
        "user@exa_mple.com",
        "user@example..com",
        "a" * 65 + "@example.com",
        "user@" + "a" * 64 + ".com",
        "x@[300.1.1.1]",
        "x@[2001:db8::1]",
        "<user@example.com>",
    ],
)
def test_normalize_address_rejects(text: str) -> None:
    """Malformed addresses raise ValueError with a message, never pass through."""
    with pytest.raises(ValueError, match=r"\S"):
        normalize_address(text)


def test_total_length_limit() -> None:
    """RFC 5321 §4.5.3.1.3: at most 254 octets in all."""
    domain = ".".join(["a" * 60] * 4)  # 243 octets
    with pytest.raises(ValueError, match="254"):
        normalize_address("a" * 20 + "@" + domain)


def test_normalize_domain() -> None:
    """Domains are lower-cased without a trailing dot; empty is refused."""
    assert normalize_domain("Example.TEST.") == "example.test"
    assert normalize_domain("xn--bcher-kva.example") == "xn--bcher-kva.example"
    with pytest.raises(ValueError, match="empty"):
        normalize_domain("  ")


def test_catch_all() -> None:
    """Only "@domain" is a catch-all source."""
    assert is_catch_all("@example.com")
    assert not is_catch_all("@")
    assert not is_catch_all("user@example.com")
    assert not is_catch_all("@a@b")
    assert normalize_alias_source("@Example.COM") == "@example.com"
    assert normalize_alias_source("Info@Example.COM") == "info@example.com"


@pytest.mark.parametrize(
    ("addr", "base"),
    [
        ("user+tag@d.test", "user@d.test"),
        ("user+a+b@d.test", "user@d.test"),
        ("user@d.test", "user@d.test"),
        ("+tag@d.test", "+tag@d.test"),
        ("user+@d.test", "user@d.test"),
    ],
)
def test_base_address(addr: str, base: str) -> None:
    """Plus-addressing: the tag after the first '+' is dropped."""
    assert base_address(addr) == base
