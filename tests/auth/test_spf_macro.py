"""SPF macros (RFC 7208 §7): the RFC's own examples, transformers, escapes and syntax errors."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from roost.auth.spf_macro import (
    DOMAIN_LETTERS,
    EXP_LETTERS,
    MacroContext,
    MacroError,
    expand,
    expand_domain,
    parse_macro_string,
)


def _ctx(ip: str = "192.0.2.3", **kw: object) -> MacroContext:
    fields: dict[str, object] = {
        "sender": "strong-bad@email.example.com",
        "domain": "email.example.com",
        "ip": ipaddress.ip_address(ip),
    }
    fields.update(kw)
    return MacroContext(**fields)  # type: ignore[arg-type]


def _expand(text: str, ctx: MacroContext | None = None, *, exp: bool = False) -> str:
    macros = parse_macro_string(text, letters=EXP_LETTERS if exp else DOMAIN_LETTERS, spaces=exp)
    return asyncio.run(expand(macros, ctx or _ctx()))


# RFC 7208 §7.4, verbatim.
RFC_EXAMPLES = [
    ("%{s}", "strong-bad@email.example.com"),
    ("%{o}", "email.example.com"),
    ("%{d}", "email.example.com"),
    ("%{d4}", "email.example.com"),
    ("%{d3}", "email.example.com"),
    ("%{d2}", "example.com"),
    ("%{d1}", "com"),
    ("%{dr}", "com.example.email"),
    ("%{d2r}", "example.email"),
    ("%{l}", "strong-bad"),
    ("%{l-}", "strong.bad"),
    ("%{lr}", "strong-bad"),
    ("%{lr-}", "bad.strong"),
    ("%{l1r-}", "strong"),
    ("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"),
    ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
    ("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"),
    ("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"),
    ("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"),
]


@pytest.mark.parametrize(("text", "expected"), RFC_EXAMPLES)
def test_rfc_7208_section_7_4_examples(text: str, expected: str) -> None:
    assert _expand(text) == expected


def test_ipv6_examples_from_section_7_4() -> None:
    ctx = _ctx("2001:db8::cb01")
    assert _expand("%{ir}.%{v}._spf.%{d2}", ctx) == (
        "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"
    )
    assert _expand("%{c}", ctx, exp=True) == "2001:db8::cb01"  # RFC 5952 form


def test_escapes_and_url_encoding() -> None:
    assert _expand("a%%b%_c%-d") == "a%b c%20d"
    ctx = _ctx(sender="~jack&jill=up-a_b3.c@example.com")
    assert _expand("%{L}", ctx) == "~jack%26jill%3Dup-a_b3.c"  # §7.3 unreserved kept
    assert _expand("%{l}", ctx) == "~jack&jill=up-a_b3.c"


def test_multiple_delimiters_and_more_digits_than_parts() -> None:
    ctx = _ctx(sender="foo-bar+zip+quux@example.com")
    assert _expand("%{l2r+-}", ctx) == "bar.foo"
    assert _expand("%{l99}", ctx) == "foo-bar+zip+quux"  # no transformer splits nothing
    assert _expand("%{l9-+}", ctx) == "foo.bar.zip.quux"


def test_no_local_part_is_postmaster_and_receiver_defaults_to_unknown() -> None:
    ctx = _ctx(sender="@example.com")
    assert _expand("%{l}@%{o}", ctx) == "postmaster@example.com"
    assert _expand("%{r}", ctx, exp=True) == "unknown"
    assert _expand("%{r}", _ctx(receiver="mx.example.org"), exp=True) == "mx.example.org"
    assert _expand("%{t}", _ctx(now=lambda: 1234.9), exp=True) == "1234"
    assert _expand("%{h}", _ctx(helo="mail.example.org")) == "mail.example.org"


def test_p_macro_asks_once_per_domain_and_defaults_to_unknown() -> None:
    calls: list[str] = []

    async def finder(domain: str) -> str:
        calls.append(domain)
        return "mx." + domain

    ctx = _ctx(validated_name=finder)
    assert _expand("%{p}.%{p}", ctx) == "mx.email.example.com.mx.email.example.com"
    assert calls == ["email.example.com"]
    assert _expand("%{p}") == "unknown"


@pytest.mark.parametrize(
    "text",
    ["%", "a%", "%x", "%(ir)", "%{", "%{i", "%{q}", "%{d0}", "%{dr0}", "%{d-r}", "a b", "é"],
)
def test_syntax_errors(text: str) -> None:
    with pytest.raises(MacroError):
        parse_macro_string(text)


def test_c_r_t_only_where_allowed() -> None:
    for letter in "crtCRT":
        with pytest.raises(MacroError):
            parse_macro_string(f"%{{{letter}}}.example.com")
        parse_macro_string(f"%{{{letter}}}", letters=EXP_LETTERS)
    assert parse_macro_string("two words", letters=EXP_LETTERS, spaces=True).tokens


def test_domain_expansion_truncates_from_the_left_and_drops_the_root_dot() -> None:
    label = "x" * 60
    ctx = _ctx(domain=".".join([label] * 5))  # 304 octets
    name = asyncio.run(expand_domain(parse_macro_string("%{d}.example.com."), ctx))
    assert len(name) <= 253
    assert name.endswith(label + ".example.com")
    assert name == ".".join([label] * 3 + ["example", "com"])


def test_domain_end_rules() -> None:
    assert parse_macro_string("%{d}").ends_with_macro
    assert parse_macro_string("foo%-").ends_with_macro  # %- is a macro-expand too (§7.1)
    spec = parse_macro_string("%{i}.bl.example.com")
    assert not spec.ends_with_macro
    assert spec.literal_tail == ".bl.example.com"
    assert not parse_macro_string("%{i}.example.com").needs_ptr
    assert parse_macro_string("%{p}.example.com").needs_ptr
