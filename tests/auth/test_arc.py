"""ARC sealing and validation with Roost's own keys, through the loopback DNS server."""

from __future__ import annotations

import asyncio

import pytest

from roost.auth import dkim_keys
from roost.auth.arc import ArcResult, seal, verify_arc
from roost.auth.authresults import SpfReport, authentication_results
from roost.dns.resolver import Resolver
from tests.dnsserver import DnsTestServer

MESSAGE = (
    b"From: Alice <alice@origin.test>\r\n"
    b"To: alias@hop1.test\r\n"
    b"Subject: forwarded\r\n"
    b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
    b"Message-ID: <f@origin.test>\r\n"
    b"\r\n"
    b"Body.\r\n"
)
KEYS = {hop: dkim_keys.generate("rsa", 2048) for hop in ("hop1.test", "hop2.test")}


@pytest.fixture
def resolver(dns_server: DnsTestServer) -> Resolver:
    for hop, key in KEYS.items():
        dns_server.set(f"arc._domainkey.{hop}", "TXT", [dkim_keys.dns_record(key.public_key())])
    return Resolver.from_config(dns_server.config())


def hop(message: bytes, name: str, cv: str, t: int = 1_700_000_000) -> bytes:
    """What a forwarding hop does: add its A-R field, then seal."""
    ar = authentication_results(name, spf=SpfReport("pass", mailfrom="origin.test"))
    sealed = seal(
        ar + message,
        domain=name,
        selector="arc",
        private_key_pem=dkim_keys.dkimpy_private(KEYS[name]),
        authserv_id=name,
        chain_validation=cv,
        timestamp=t,
    )
    return sealed + ar + message


def verify(message: bytes, resolver: Resolver) -> ArcResult:
    return asyncio.run(verify_arc(message, resolver))


def test_no_chain_is_none(resolver: Resolver) -> None:
    assert verify(MESSAGE, resolver) == ArcResult("none", 0)


def test_two_hops_pass(resolver: Resolver) -> None:
    one = hop(MESSAGE, "hop1.test", "none")
    assert one.startswith(b"ARC-Seal: i=1; cv=none; a=rsa-sha256; d=hop1.test; s=arc;")
    assert b"ARC-Authentication-Results: i=1; hop1.test;\r\n spf=pass" in one
    first = verify(one, resolver)
    assert (first.result, first.instances, first.oldest_pass) == ("pass", 1, 0)
    two = hop(one, "hop2.test", first.result, t=1_700_000_100)
    assert two.startswith(b"ARC-Seal: i=2; cv=pass;")
    second = verify(two, resolver)
    assert (second.result, second.instances, second.oldest_pass) == ("pass", 2, 0)


def test_modified_after_first_hop_reports_oldest_pass(resolver: Resolver) -> None:
    """Hop 2 changes the body (breaking AMS 1) and seals: the chain passes, oldest-pass is 2."""
    one = hop(MESSAGE, "hop1.test", "none")
    two = hop(one.replace(b"Body.", b"Body, with a footer."), "hop2.test", "pass")
    result = verify(two, resolver)
    assert (result.result, result.oldest_pass) == ("pass", 2)


def test_tampering_after_the_last_seal_fails(resolver: Resolver) -> None:
    one = hop(MESSAGE, "hop1.test", "none")
    result = verify(one.replace(b"Body.", b"Changed."), resolver)
    assert result.result == "fail"
    assert "ARC-Message-Signature" in result.problem
    assert result.oldest_pass is None


def test_failed_chain_is_sealed_once_then_never_extended(resolver: Resolver) -> None:
    one = hop(MESSAGE, "hop1.test", "none")
    two = hop(one.replace(b"Body.", b"Changed."), "hop2.test", "fail")
    assert two.startswith(b"ARC-Seal: i=2; cv=fail;")
    assert verify(two, resolver).result == "fail"
    ar = authentication_results("hop1.test", spf=SpfReport("pass", mailfrom="x.test"))
    again = seal(
        ar + two,
        domain="hop1.test",
        selector="arc",
        private_key_pem=dkim_keys.dkimpy_private(KEYS["hop1.test"]),
        authserv_id="hop1.test",
        chain_validation="fail",
    )
    assert again == b""  # RFC 8617 §5.1.1: a chain with cv=fail is not continued


def test_dns_failure_is_a_fail_that_says_so(resolver: Resolver, dns_server: DnsTestServer) -> None:
    one = hop(MESSAGE, "hop1.test", "none")
    dns_server.servfail("arc._domainkey.hop1.test")
    result = verify(one, resolver)
    assert result.result == "fail"
    assert "DNS temporary failure" in result.problem


def test_seal_arguments_are_checked() -> None:
    ed = dkim_keys.dkimpy_private(dkim_keys.generate("ed25519", 0))
    rsa = dkim_keys.dkimpy_private(KEYS["hop1.test"])
    with pytest.raises(ValueError, match="RSA"):
        seal(MESSAGE, domain="d.test", selector="s", private_key_pem=ed, authserv_id="d.test",
             chain_validation="none")  # fmt: skip
    with pytest.raises(ValueError, match="chain_validation"):
        seal(MESSAGE, domain="d.test", selector="s", private_key_pem=rsa, authserv_id="d.test",
             chain_validation="maybe")  # fmt: skip
    one = hop(MESSAGE, "hop1.test", "none")
    with pytest.raises(ValueError, match="pass or fail"):
        seal(one, domain="d.test", selector="s", private_key_pem=rsa, authserv_id="d.test",
             chain_validation="none")  # fmt: skip


def test_first_set_without_our_results_still_carries_arc() -> None:
    sealed = seal(
        MESSAGE,
        domain="hop1.test",
        selector="arc",
        private_key_pem=dkim_keys.dkimpy_private(KEYS["hop1.test"]),
        authserv_id="hop1.test",
        chain_validation="pass",  # ignored for i=1: the first set always says cv=none
        timestamp=1,
    )
    assert b"cv=none" in sealed
    assert sealed.endswith(b"ARC-Authentication-Results: i=1; hop1.test;\r\n arc=none\r\n")
