"""`diagnose`: the real checks on received messages, explained (loopback DNS, Roost's signer)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from roost.auth import dkim_keys
from roost.auth.arc import seal
from roost.auth.authresults import SpfReport, authentication_results
from roost.auth.diagnose import Diagnosis, Step, diagnose, envelope_of, render_text
from roost.auth.dkim import DkimSigner
from roost.auth.dkim_verify import verify_dkim
from roost.auth.dmarc import evaluate_dmarc, from_domains_of
from roost.dns.resolver import Resolver
from roost.smtp.received import TraceInfo, received_header
from tests.dnsserver import DnsTestServer

ZONES = {
    "example.test": {"TXT": ["v=spf1 ip4:192.0.2.0/24 -all"]},
    "_dmarc.example.test": {"TXT": ["v=DMARC1; p=reject; rua=mailto:d@example.test"]},
    "fwd.test": {"TXT": ["v=spf1 ip4:198.51.100.0/24 -all"]},
    "lists.test": {"TXT": ["v=spf1 ip4:198.51.100.0/24 -all"]},
}
ORIGINAL = (
    b"From: Author <author@example.test>\r\nTo: bob@roost.test\r\nSubject: hello\r\n"
    b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\nMessage-ID: <m1@example.test>\r\n\r\n"
    b"Hello Bob.\r\n"
)


def roost_lines(ip: str, helo: str, sender: str) -> bytes:
    """What Roost puts in front of a delivered message: Return-Path and its Received line."""
    trace = TraceInfo(
        helo=helo, client_ip=ip, hostname="mx.roost.test", queue_id="Q1", extended=True,
        tls=None, authenticated=False, smtputf8=False, recipients=("bob@roost.test",),
        when=datetime(2024, 1, 1, 10, 0, tzinfo=UTC),
    )  # fmt: skip
    return f"Return-Path: <{sender}>\r\n".encode() + received_header(trace)


@pytest.fixture
def signer(tmp_path: Path, dns_server: DnsTestServer) -> DkimSigner:
    dns_server.zones = ZONES
    key = dkim_keys.generate("rsa", 2048)
    dkim_keys.write_key(dkim_keys.key_path(tmp_path, "example.test", "s1"), key)
    dns_server.set("s1._domainkey.example.test", "TXT", [dkim_keys.dns_record(key.public_key())])
    return DkimSigner(tmp_path, "s1")


def signed(signer: DkimSigner, message: bytes = ORIGINAL) -> bytes:
    signature = signer.sign(message, "example.test")
    assert signature is not None
    return signature + message


def run(dns_server: DnsTestServer, message: bytes, **options: str) -> Diagnosis:
    resolver = Resolver.from_config(dns_server.config())
    return asyncio.run(diagnose(message, resolver, receiver="mx.roost.test", **options))


def step(diagnosis: Diagnosis, name: str) -> Step:
    return next(s for s in diagnosis.steps if s.check == name)


def test_envelope_from_roost_lines() -> None:
    message = roost_lines("2001:db8::5", "mail.example.test", "a@example.test") + ORIGINAL
    env = envelope_of(message)
    assert (env.ip, env.helo, env.mail_from) == (
        "2001:db8::5",
        "mail.example.test",
        "a@example.test",
    )
    assert env.source == "Roost's Received line, Return-Path"
    foreign = b"Received: from x ([192.0.2.99]) by other.test (Postfix) with ESMTP\r\n" + ORIGINAL
    assert envelope_of(foreign).ip is None
    over = envelope_of(message, ip="192.0.2.1", mail_from="")
    assert (over.ip, over.mail_from) == ("192.0.2.1", "")
    assert over.source.endswith("command-line options")
    bounce = envelope_of(b"Return-Path: <>\r\n" + ORIGINAL)
    assert bounce.mail_from == ""


def test_passing_message(dns_server: DnsTestServer, signer: DkimSigner) -> None:
    message = roost_lines("192.0.2.10", "mail.example.test", "bounce@example.test")
    got = run(dns_server, message + signed(signer))
    assert (got.dmarc, got.disposition, got.ok) == ("pass", "none", True)
    spf = step(got, "SPF")
    assert spf.result == "pass"
    assert any('"ip4:192.0.2.0/24" matched 192.0.2.10' in line for line in spf.lines)
    assert any("DNS-querying terms used: 0 of 10" in line for line in spf.lines)
    dkim = step(got, "DKIM")
    assert dkim.result == "pass"
    assert "d=example.test, selector s=s1, algorithm a=rsa-sha256" in dkim.lines[1]
    assert "the body matches its hash [bh=]" in dkim.lines[1]
    dmarc = "\n".join(step(got, "DMARC").lines)
    assert "Policy found at _dmarc.example.test (the author domain): p=reject" in dmarc
    assert (
        "SPF passed for example.test; compared with example.test, relaxed [aspf=r]: aligned"
        in dmarc
    )
    assert "DKIM passed for d=example.test" in dmarc
    assert step(got, "ARC").result == "none"
    text = render_text(got)
    assert text.endswith("Verdict: DMARC passes; disposition none.\n")
    assert got.as_dict()["ok"] is True


def test_tampered_body_from_a_stranger_fails(dns_server: DnsTestServer, signer: DkimSigner) -> None:
    tampered = signed(signer).replace(b"Hello Bob.", b"Send money.")
    message = roost_lines("203.0.113.5", "evil.test", "author@example.test") + tampered
    got = run(dns_server, message)
    assert (got.dmarc, got.disposition, got.ok) == ("fail", "reject", False)
    spf = step(got, "SPF")
    assert spf.result == "fail"
    assert any('"-all" matched 203.0.113.5' in line for line in spf.lines)
    dkim = step(got, "DKIM")
    assert dkim.result == "fail"
    assert "does not match the signed body hash [bh=] [fail]" in dkim.lines[1]
    dmarc = "\n".join(step(got, "DMARC").lines)
    assert "SPF did not pass (fail)" in dmarc
    assert "No DKIM signature passed" in dmarc
    assert "[disposition]: reject" in dmarc


def test_forwarded_message_passes_on_dkim(dns_server: DnsTestServer, signer: DkimSigner) -> None:
    """The forwarder re-sends from its own domain: SPF passes but does not align; DKIM does."""
    message = roost_lines("198.51.100.7", "mx.fwd.test", "srs=x@fwd.test") + signed(signer)
    got = run(dns_server, message)
    assert got.dmarc == "pass"
    dmarc = "\n".join(step(got, "DMARC").lines)
    assert (
        "SPF passed for fwd.test; compared with example.test, relaxed [aspf=r]: not aligned"
        in dmarc
    )
    assert (
        "DKIM passed for d=example.test; compared with example.test, relaxed [adkim=r]: aligned"
        in dmarc
    )
    # options override what the message says: the same message from a stranger's IP
    moved = run(dns_server, message, ip="203.0.113.9")
    assert step(moved, "SPF").result == "fail"
    assert moved.dmarc == "pass"


def test_mailing_list_with_arc_and_earlier_results(
    dns_server: DnsTestServer, signer: DkimSigner
) -> None:
    list_key = dkim_keys.generate("rsa", 2048)
    dns_server.set(
        "arc._domainkey.lists.test", "TXT", [dkim_keys.dns_record(list_key.public_key())]
    )
    posted = signed(signer)
    resolver = Resolver.from_config(dns_server.config())
    at_list = asyncio.run(verify_dkim(posted, resolver))
    list_dmarc = asyncio.run(
        evaluate_dmarc(resolver, from_domains_of(posted), "pass", "example.test", at_list)
    )
    modified = posted.replace(b"Hello Bob.\r\n", b"Hello Bob.\r\n-- \r\nlist footer\r\n")
    ar = authentication_results(
        "lists.test", spf=SpfReport("pass", mailfrom="example.test"), dkim=at_list, dmarc=list_dmarc
    )
    arc_set = seal(
        ar + modified, domain="lists.test", selector="arc",
        private_key_pem=dkim_keys.dkimpy_private(list_key), authserv_id="lists.test",
        chain_validation="none", timestamp=1_700_000_000,
    )  # fmt: skip
    message = (
        roost_lines("198.51.100.8", "mx.lists.test", "bounce@lists.test") + arc_set + ar + modified
    )
    got = run(dns_server, message)
    assert (got.dmarc, got.disposition) == ("fail", "reject")
    arc = step(got, "ARC")
    assert arc.result == "pass"
    assert "1 ARC set(s)" in arc.lines[0]
    assert "[cv=pass]" in arc.lines[1]
    earlier = step(got, "Authentication-Results")
    assert earlier.result == "present"
    assert earlier.lines[0].startswith("lists.test said: spf=pass")
    assert "dmarc=pass" in earlier.lines[0]


def test_unknown_envelope_and_no_from(dns_server: DnsTestServer) -> None:
    dns_server.zones = ZONES
    got = run(dns_server, b"Subject: no from\r\n\r\nbody\r\n")
    assert step(got, "SPF").result == "none"
    assert "client IP is unknown" in step(got, "SPF").lines[0]
    assert step(got, "DKIM").lines == ["The message has no DKIM-Signature field [none]."]
    assert (got.dmarc, got.ok) == ("permerror", False)
    bare = b"From: a@example.test\r\n\r\nx\r\n"
    bounce = run(dns_server, bare, ip="192.0.2.1", helo="example.test", mail_from="")
    spf = step(bounce, "SPF")
    assert "envelope sender is empty" in spf.lines[1]
    assert spf.result == "pass"  # the HELO name example.test allows 192.0.2.1
    assert bounce.dmarc == "pass"  # SPF on HELO example.test aligns with From
