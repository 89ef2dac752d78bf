"""SPF record syntax (RFC 7208 §4.5, §4.6.1, §5, §6): what parses to what, and what is an error."""

from __future__ import annotations

import contextlib
import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roost.auth.spf_record import Mechanism, SpfSyntaxError, is_spf_record, parse_record


def test_selection_prefix() -> None:
    assert is_spf_record(b"v=spf1")
    assert is_spf_record(b"V=SpF1 -all")
    assert not is_spf_record(b"v=spf10")
    assert not is_spf_record(b"v=spf1mx")  # strings glued without a space (§4.5)
    assert not is_spf_record(b" v=spf1 -all")
    assert not is_spf_record(b"spf2.0/pra -all")


def test_a_full_record() -> None:
    record = parse_record(
        "v=spf1  ip4:192.0.2.0/24 -ip6:2001:DB8::/32 ~a ?a:mail.example.com/28//64 mx//56 "
        "ptr ptr:example.org include:_spf.example.net exists:%{ir}.bl.example.com "
        "redirect=_spf.example.com exp=explain.%{d} foo.bar=%{c}xyz -all "
    )
    kinds = [(m.qualifier, m.kind) for m in record.mechanisms]
    assert kinds == [
        ("+", "ip4"),
        ("-", "ip6"),
        ("~", "a"),
        ("?", "a"),
        ("+", "mx"),
        ("+", "ptr"),
        ("+", "ptr"),
        ("+", "include"),
        ("+", "exists"),
        ("-", "all"),
    ]
    ip4, ip6, a, a2, mx = record.mechanisms[:5]
    assert ip4.network == ipaddress.ip_network("192.0.2.0/24")
    assert ip4.text == "ip4:192.0.2.0/24"
    assert ip6.network == ipaddress.ip_network("2001:db8::/32")
    assert ip6.result == "fail"
    assert (a.domain, a.cidr4, a.cidr6, a.result) == (None, 32, 128, "softfail")
    assert a2.domain is not None
    assert a2.domain.text == "mail.example.com"
    assert (a2.cidr4, a2.cidr6, mx.cidr4, mx.cidr6) == (28, 64, 32, 56)
    assert record.redirect is not None
    assert record.redirect.text == "_spf.example.com"
    assert record.explanation is not None
    assert record.explanation.text == "explain.%{d}"
    assert record.has_all


def test_empty_record_and_case() -> None:
    assert parse_record(b"v=spf1").mechanisms == ()
    record = parse_record("v=spf1 IP4:192.0.2.1 REDIRECT=example.com")
    assert record.mechanisms == (
        Mechanism("+", "ip4", "IP4:192.0.2.1", network=ipaddress.ip_network("192.0.2.1/32")),
    )
    assert record.redirect is not None


BAD = [
    "v=spf1 -all moo",  # unknown mechanism anywhere (§4.6)
    "v=spf1 moo.cow/far_out=man:dog/cat -all",
    "v=spf1 =all",
    "v=spf1 1up=foo",
    "v=spf1 redirect:example.com",
    "v=spf1 -all.",
    "v=spf1 -all:foo",
    "v=spf1 -all/8",
    "v=spf1 ptr/0",
    "v=spf1 ptr:",
    "v=spf1 a:",
    "v=spf1 a/33",
    "v=spf1 a//129",
    "v=spf1 a/24/64",
    "v=spf1 a/024",
    "v=spf1 a:museum",
    "v=spf1 a:museum.",
    "v=spf1 a:abc.123",
    "v=spf1 a:example.-com",
    "v=spf1 a:example.com:8080",
    "v=spf1 a:foo.example.com\0",
    "v=spf1 include",
    "v=spf1 include:",
    "v=spf1 include:example.com/24",
    "v=spf1 exists",
    "v=spf1 exists:example.com/24",
    "v=spf1 ip4",
    "v=spf1 ip4:1.2.3",
    "v=spf1 ip4:1.2.3.4:8080",
    "v=spf1 ip4:1.2.3.4//32",
    "v=spf1 ip4:1.2.3.4/33",
    "v=spf1 ip4:1.2.3.4/032",
    "v=spf1 ip4:01.2.3.4",
    "v=spf1 ip4:256.2.3.4",
    "v=spf1 ip6",
    "v=spf1 ip6::CAFE::BABE",
    "v=spf1 ip6:::1/129",
    "v=spf1 ip6:::1//64",
    "v=spf1 exp= -all",
    "v=spf1 exp=-all",
    "v=spf1 redirect=",
    "v=spf1 redirect=a.example.com redirect=a.example.com",
    "v=spf1 exp=a.example.com exp=b.example.com",
    "v=spf1 exp=%{r}.example.com",  # c r t only in explanation text (§7.2)
    "v=spf1 foo=%abc",  # unknown modifiers must be valid macro-strings (§6.3)
    "v=spf1 a:ctrl.example.com\rptr -all",  # only SP separates terms (§4.6.1)
    "v=spf1 ip4:192.0.2.5\n include:example.com",
    "v=spf1\ta",
    "v=spf1 \x80a:example.net",  # 7-bit ASCII only (§3.1)
    "v=spf1 a:%{d0}.example.com",
]


@pytest.mark.parametrize("text", BAD)
def test_syntax_errors(text: str) -> None:
    with pytest.raises(SpfSyntaxError):
        parse_record(text)


GOOD = [
    "v=spf1 a:foo:bar/baz.example.com",  # any visible character but % (§7.1)
    "v=spf1 a:foo.example.xn--zckzah -all",  # dashes in the top label
    "v=spf1 a:%{H}.bar",
    "v=spf1 a:%{d}",  # domain-end may be a macro
    "v=spf1 a:.com",
    "v=spf1 include:o.spf.example.com.",  # trailing dot allowed
    "v=spf1 moo.cow-far_out=man:dog/cat -all",
    "v=spf1 default=pass",
    "v=spf1 a//0 mx/0 ip4:0.0.0.0/0 ip6:::/0",
    "v=spf1 ip6:::FFFF:1.2.3.4 ip6:::1.1.1.1/0",
    "v=spf1 -all ",
]


@pytest.mark.parametrize("text", GOOD)
def test_valid_records(text: str) -> None:
    parse_record(text)


_ALPHABET = st.sampled_from(
    [
        *list("v=spf1 aAmxptrincludeexistsip46allredirectexp:./-+~?%{}0123456789_,rlsodhcv\t\x00é"),
        "v=spf1 ",
        " ",
        "%{",
        "//",
        "ip4:",
        "ip6:",
        "include:",
        "redirect=",
        "exp=",
        "::",
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_ALPHABET, max_size=40).map("".join))
def test_random_text_never_raises_anything_but_a_syntax_error(text: str) -> None:
    for candidate in (text, "v=spf1 " + text):
        with contextlib.suppress(SpfSyntaxError):
            parse_record(candidate)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_random_bytes_never_raise_anything_but_a_syntax_error(raw: bytes) -> None:
    with contextlib.suppress(SpfSyntaxError):
        parse_record(b"v=spf1 " + raw)
