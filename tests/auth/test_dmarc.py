"""DMARC (RFC 7489) through the loopback DNS server: records, discovery, alignment, the matrix."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from roost.auth import dkim_keys
from roost.auth.arc import seal, verify_arc
from roost.auth.authresults import SpfReport, authentication_results
from roost.auth.dkim import DkimSigner
from roost.auth.dkim_verify import DkimResult, verify_dkim
from roost.auth.dmarc import (
    DmarcRecordError,
    DmarcResult,
    discover_policy,
    evaluate_dmarc,
    from_domains_of,
    parse_record,
)
from roost.auth.orgdomain import organizational_domain
from roost.dns.errors import DnsTempError
from roost.dns.resolver import Resolver
from tests.dnsserver import DnsTestServer

ZONES = {
    "_dmarc.example.test": {"TXT": ["v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@x.test"]},
    "_dmarc.strict.test": {"TXT": ["v=DMARC1; p=reject; adkim=s; aspf=s"]},
    "_dmarc.pct0.test": {"TXT": ["v=DMARC1; p=reject; pct=0"]},
    "_dmarc.pct50.test": {"TXT": ["v=DMARC1; p=quarantine; pct=50"]},
    "_dmarc.pct100.test": {"TXT": ["v=DMARC1; p=reject; pct=100"]},
    "_dmarc.own.example.test": {"TXT": ["v=DMARC1; p=none"]},
    "_dmarc.two.test": {"TXT": ["v=DMARC1; p=reject", "v=DMARC1; p=none"]},
    "_dmarc.broken.test": {"TXT": ["v=DMARC1; p=bogus"]},
    "_dmarc.brokenrua.test": {"TXT": ["v=DMARC1; p=bogus; rua=mailto:r@brokenrua.test"]},
    "_dmarc.other.test": {"TXT": ["v=spf1 -all", "v=DMARC1; p=quarantine"]},
}


@pytest.fixture
def resolver(dns_server: DnsTestServer) -> Resolver:
    dns_server.zones = ZONES
    return Resolver.from_config(dns_server.config())


def dkim_pass(domain: str, result: str = "pass") -> DkimResult:
    return DkimResult(result, domain, "s1", "rsa-sha256", "AAAAAAAA")


def evaluate(
    resolver: Resolver,
    from_domains: Sequence[str],
    spf: tuple[str, str] = ("none", ""),
    dkim: Sequence[DkimResult] = (),
    rng: float = 0.0,
) -> DmarcResult:
    return asyncio.run(
        evaluate_dmarc(resolver, from_domains, spf[0], spf[1], dkim, rng=lambda: rng)
    )


# (name, From domains, (SPF result, SPF domain), DKIM passes as (result, d=), expected
#  (result, policy, disposition, spf_aligned, dkim_aligned))
MATRIX = [
    ("spf aligned exact", ["example.test"], ("pass", "example.test"), [],
     ("pass", "reject", "none", True, False)),
    ("spf aligned relaxed", ["example.test"], ("pass", "bounce.example.test"), [],
     ("pass", "reject", "none", True, False)),
    ("spf pass unaligned", ["example.test"], ("pass", "other.test"), [],
     ("fail", "reject", "reject", False, False)),
    ("spf softfail aligned", ["example.test"], ("softfail", "example.test"), [],
     ("fail", "reject", "reject", False, False)),
    ("dkim aligned relaxed", ["example.test"], ("none", ""), [("pass", "mail.example.test")],
     ("pass", "reject", "none", False, True)),
    ("dkim pass unaligned", ["example.test"], ("none", ""), [("pass", "esp.test")],
     ("fail", "reject", "reject", False, False)),
    ("dkim aligned but failed", ["example.test"], ("none", ""), [("fail", "example.test")],
     ("fail", "reject", "reject", False, False)),
    ("dkim second signature aligned", ["example.test"], ("none", ""),
     [("pass", "esp.test"), ("pass", "example.test")], ("pass", "reject", "none", False, True)),
    ("strict dkim subdomain", ["strict.test"], ("none", ""), [("pass", "mail.strict.test")],
     ("fail", "reject", "reject", False, False)),
    ("strict dkim exact", ["strict.test"], ("none", ""), [("pass", "strict.test")],
     ("pass", "reject", "none", False, True)),
    ("strict spf subdomain", ["strict.test"], ("pass", "bounce.strict.test"), [],
     ("fail", "reject", "reject", False, False)),
    ("strict spf exact", ["strict.test"], ("pass", "STRICT.test."), [],
     ("pass", "reject", "none", True, False)),
    ("subdomain takes sp", ["news.example.test"], ("pass", "other.test"), [],
     ("fail", "quarantine", "quarantine", False, False)),
    ("subdomain aligned relaxed", ["news.example.test"], ("pass", "example.test"), [],
     ("pass", "quarantine", "none", True, False)),
    ("subdomain with own record", ["own.example.test"], ("none", ""), [],
     ("fail", "none", "none", False, False)),
    ("pct 0 applies next weaker", ["pct0.test"], ("none", ""), [],
     ("fail", "reject", "quarantine", False, False)),
    ("pct 100", ["pct100.test"], ("none", ""), [], ("fail", "reject", "reject", False, False)),
    ("no record", ["none.test"], ("none", ""), [], ("none", "none", "none", False, False)),
    ("two records is no policy", ["two.test"], ("none", ""), [],
     ("none", "none", "none", False, False)),
    ("invalid p without rua ignored", ["broken.test"], ("none", ""), [],
     ("none", "none", "none", False, False)),
    ("invalid p with rua is p=none", ["brokenrua.test"], ("none", ""), [],
     ("fail", "none", "none", False, False)),
    ("non-DMARC TXT ignored", ["other.test"], ("none", ""), [],
     ("fail", "quarantine", "quarantine", False, False)),
    ("forwarded: spf fails, dkim survives", ["example.test"], ("fail", "forwarder.test"),
     [("pass", "example.test")], ("pass", "reject", "none", False, True)),
    ("several From domains, one fails", ["example.test", "strict.test"],
     ("pass", "example.test"), [], ("fail", "reject", "reject", False, False)),
    ("several From domains, all pass", ["example.test", "mail.example.test"],
     ("pass", "example.test"), [], ("pass", "reject", "none", True, False)),
    ("several From domains, strictest failing wins", ["news.example.test", "pct0.test"],
     ("none", ""), [], ("fail", "reject", "quarantine", False, False)),
    ("no From domain", [], ("pass", "example.test"), [],
     ("permerror", "none", "none", False, False)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("from_domains", "spf", "dkim", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in MATRIX],
)
def test_matrix(
    resolver: Resolver,
    from_domains: list[str],
    spf: tuple[str, str],
    dkim: list[tuple[str, str]],
    expected: tuple[str, str, str, bool, bool],
) -> None:
    got = evaluate(resolver, from_domains, spf, [dkim_pass(d, r) for r, d in dkim])
    assert (got.result, got.policy, got.disposition, got.spf_aligned, got.dkim_aligned) == (
        expected
    ), got.reason


def test_result_details(resolver: Resolver) -> None:
    got = evaluate(resolver, ["News.Example.test"], ("none", ""), [dkim_pass("example.test")])
    assert (got.from_domain, got.org_domain, got.aligned_dkim_domain) == (
        "news.example.test",
        "example.test",
        "example.test",
    )
    assert got.record is not None
    assert got.record.domain == "example.test"
    several = evaluate(resolver, ["example.test", "strict.test"], ("pass", "example.test"))
    assert several.from_domain == "strict.test"
    assert [r.result for r in several.per_domain] == ["pass", "fail"]
    assert "2 From domains" in several.reason


@pytest.mark.parametrize(("draw", "disposition"), [(0.2, "quarantine"), (0.7, "none")])
def test_pct_sampling_uses_the_injected_random(
    resolver: Resolver, draw: float, disposition: str
) -> None:
    got = evaluate(resolver, ["pct50.test"], rng=draw)
    assert (got.result, got.policy, got.disposition) == ("fail", "quarantine", disposition)


def test_temperror_is_surfaced(resolver: Resolver, dns_server: DnsTestServer) -> None:
    dns_server.servfail("_dmarc.news.example.test")
    got = evaluate(resolver, ["news.example.test"], ("pass", "example.test"))
    assert got.result == "temperror"
    assert got.disposition == "none"
    with pytest.raises(DnsTempError):
        asyncio.run(discover_policy(resolver, "news.example.test"))


def test_discovery_order(resolver: Resolver, dns_server: DnsTestServer) -> None:
    record = asyncio.run(discover_policy(resolver, "a.b.own.example.test"))
    assert record is not None
    assert (record.domain, record.p) == ("example.test", "reject")  # org, not own.example.test
    assert dns_server.queries("_dmarc.a.b.own.example.test", "TXT") == 1
    assert dns_server.queries("_dmarc.own.example.test", "TXT") == 0
    assert asyncio.run(discover_policy(resolver, "example.test")) is not None
    assert asyncio.run(discover_policy(resolver, "none.test")) is None


def test_record_parsing() -> None:
    r = parse_record(
        "v=DMARC1;p=Quarantine; sp=none; adkim=s; aspf=r; pct=20; "
        "rua=mailto:a@x.test,mailto:b@x.test!10m; ruf=mailto:f@x.test; fo=1:d; ri=3600; x=y"
    )
    assert (r.p, r.sp, r.adkim, r.aspf, r.pct, r.fo, r.ri) == (
        "quarantine", "none", "s", "r", 20, "1:d", 3600,
    )  # fmt: skip
    assert r.rua == ("mailto:a@x.test", "mailto:b@x.test!10m")
    assert r.ruf == ("mailto:f@x.test",)
    defaults = parse_record(b"v=DMARC1; p=reject")
    assert (defaults.sp, defaults.adkim, defaults.aspf, defaults.pct, defaults.ri) == (
        "reject", "r", "r", 100, 86400,
    )  # fmt: skip
    assert parse_record("v=DMARC1; p=none; pct=500; adkim=x").pct == 100
    assert parse_record("v=DMARC1; p=reject; sp=bogus; rua=mailto:a@x.test").sp == "none"
    for bad in ("p=reject; v=DMARC1", "v=DMARC2; p=reject", "v=DMARC1; p=bogus", "v=DMARC1; =x"):
        with pytest.raises(DmarcRecordError):
            parse_record(bad)


def test_from_domains_of() -> None:
    def domains(header: bytes) -> list[str]:
        return from_domains_of(header + b"To: x@y.test\r\n\r\nbody\r\n")

    assert domains(b"From: Alice <alice@Example.TEST>\r\n") == ["example.test"]
    assert domains(b'From: a@one.test, "B, Bob" <b@two.test>\r\n') == ["one.test", "two.test"]
    assert domains(b"From: Team: a@one.test, b@two.test;\r\n") == ["one.test", "two.test"]
    assert domains(b"From: a@one.test\r\nFrom: b@two.test\r\n") == ["one.test", "two.test"]
    assert domains(b"From:\r\n a@folded.test\r\n") == ["folded.test"]
    assert domains(b"Subject: no from\r\n") == []
    assert domains(b"From: undisclosed\r\n") == []
    assert from_domains_of(b"\xff\xfe garbage") == []


def test_organizational_domain() -> None:
    assert organizational_domain("mail.example.co.uk") == "example.co.uk"
    assert organizational_domain("co.uk") == "co.uk"
    assert organizational_domain("a.b.Example.TEST.") == "example.test"
    assert organizational_domain("example.com") == "example.com"
    assert organizational_domain("x.bücher.de") == "xn--bcher-kva.de"


def test_mailing_list_breaks_dkim_but_arc_validates(
    tmp_path: Path, resolver: Resolver, dns_server: DnsTestServer
) -> None:
    """An author at example.test (p=reject) posts to a list at lists.test; the list adds a
    footer (breaking DKIM), re-sends from its own bounce domain (SPF passes unaligned) and
    ARC-seals with its verdict. DMARC fails at the receiver; the ARC chain passes, which the
    policy layer can honour for a trusted forwarder (RFC 7489 §6.7, RFC 8617 §7.2)."""
    key = dkim_keys.generate("rsa", 2048)
    dkim_keys.write_key(dkim_keys.key_path(tmp_path, "example.test", "a1"), key)
    dns_server.set("a1._domainkey.example.test", "TXT", [dkim_keys.dns_record(key.public_key())])
    list_key = dkim_keys.generate("rsa", 2048)
    dns_server.set(
        "arc._domainkey.lists.test", "TXT", [dkim_keys.dns_record(list_key.public_key())]
    )
    original = (
        b"From: Author <author@example.test>\r\nTo: list@lists.test\r\nSubject: news\r\n"
        b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\nMessage-ID: <n@example.test>\r\n\r\n"
        b"Hello list.\r\n"
    )
    signature = DkimSigner(tmp_path, "a1").sign(original, "example.test")
    assert signature is not None
    posted = signature + original

    # At the list: everything checks out, so it records that and seals after modifying.
    at_list = asyncio.run(verify_dkim(posted, resolver))
    assert [r.result for r in at_list] == ["pass"]
    list_dmarc = evaluate(resolver, from_domains_of(posted), ("pass", "example.test"), at_list)
    assert list_dmarc.result == "pass"
    modified = posted.replace(b"Hello list.\r\n", b"Hello list.\r\n-- \r\nlist footer\r\n")
    ar = authentication_results(
        "lists.test",
        spf=SpfReport("pass", mailfrom="example.test"),
        dkim=at_list,
        dmarc=list_dmarc,
    )
    arc_set = seal(
        ar + modified,
        domain="lists.test",
        selector="arc",
        private_key_pem=dkim_keys.dkimpy_private(list_key),
        authserv_id="lists.test",
        chain_validation="none",
        timestamp=1_700_000_000,
    )
    delivered = arc_set + ar + modified

    # At the receiver.
    dkim = asyncio.run(verify_dkim(delivered, resolver))
    assert [(r.result, r.problem) for r in dkim] == [("fail", "body hash mismatch")]
    dmarc = evaluate(resolver, from_domains_of(delivered), ("pass", "bounce.lists.test"), dkim)
    assert (dmarc.result, dmarc.disposition) == ("fail", "reject")
    arc = asyncio.run(verify_arc(delivered, resolver))
    assert (arc.result, arc.instances) == ("pass", 1)
    assert b"dmarc=pass" in arc_set  # the list's verdict travels in the AAR
