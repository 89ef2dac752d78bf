"""Inbound DKIM verification through the loopback DNS server and Roost's resolver."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from roost.auth import dkim_keys
from roost.auth.dkim import DkimSigner
from roost.auth.dkim_verify import DkimResult, verify_dkim
from roost.dns.resolver import Resolver
from tests.dnsserver import DnsTestServer, blackhole_udp

VECTORS = Path(__file__).resolve().parents[2].parent / "shared/testdata/dkim"
needs_vectors = pytest.mark.skipif(not VECTORS.is_dir(), reason="shared DKIM vectors missing")

BRISBANE = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="  # RFC 8463 §A.2
ED_NAME = "brisbane._domainkey.football.example.com"
RSA_NAME = "test._domainkey.football.example.com"

MESSAGE = (
    b"From: Alice <alice@example.test>\r\n"
    b"To: bob@remote.test\r\n"
    b"Subject: hello\r\n"
    b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
    b"Message-ID: <1@example.test>\r\n"
    b"\r\n"
    b"Hello Bob.\r\n"
)


def crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def run(message: bytes, server: DnsTestServer, **kw: int) -> list[DkimResult]:
    resolver = Resolver.from_config(server.config())
    return asyncio.run(verify_dkim(message, resolver, **kw))


def publish_vectors(server: DnsTestServer) -> bytes:
    server.set(ED_NAME, "TXT", [BRISBANE])
    server.set(RSA_NAME, "TXT", [(VECTORS / "test.txt").read_text().strip()])
    return crlf((VECTORS / "rfc6376.signed.msg").read_bytes())


@needs_vectors
def test_rfc8463_vector_both_signatures_pass(dns_server: DnsTestServer) -> None:
    results = run(publish_vectors(dns_server), dns_server)
    assert [(r.result, r.selector, r.algorithm) for r in results] == [
        ("pass", "brisbane", "ed25519-sha256"),
        ("pass", "test", "rsa-sha256"),
    ]
    assert all(r.domain == "football.example.com" and not r.problem for r in results)
    assert results[0].header_b.startswith("9/dsDChY")
    assert len(results[0].header_b) >= 8
    assert dns_server.queries(ED_NAME, "TXT") == 1
    assert dns_server.queries(RSA_NAME, "TXT") == 1


@needs_vectors
def test_tampered_body_is_body_hash_fail(dns_server: DnsTestServer) -> None:
    signed = publish_vectors(dns_server).replace(b"Joe.", b"Jim.")
    results = run(signed, dns_server)
    assert [(r.result, r.problem) for r in results] == [("fail", "body hash mismatch")] * 2


@needs_vectors
def test_tampered_signed_header_fails_signature(dns_server: DnsTestServer) -> None:
    signed = publish_vectors(dns_server)
    subject = signed.index(b"Subject:")
    signed = signed[:subject] + signed[subject:].replace(b"Subject: ", b"Subject: Re: ", 1)
    results = run(signed, dns_server)
    assert [(r.result, r.problem) for r in results] == [("fail", "signature did not verify")] * 2


@needs_vectors
def test_missing_key_is_permerror(dns_server: DnsTestServer) -> None:
    signed = publish_vectors(dns_server)
    dns_server.remove(RSA_NAME)  # NXDOMAIN: RFC 6376 §6.1.2 PERMFAIL (no key for signature)
    dns_server.set(ED_NAME, "TXT", [])  # NODATA
    assert [(r.result, r.problem) for r in run(signed, dns_server)] == [
        ("permerror", "key not found")
    ] * 2


@needs_vectors
def test_servfail_is_temperror(dns_server: DnsTestServer) -> None:
    signed = publish_vectors(dns_server)
    dns_server.servfail(ED_NAME)
    results = run(signed, dns_server)
    assert results[0].result == "temperror"
    assert "key lookup failed" in results[0].problem
    assert results[1].result == "pass"


@needs_vectors
def test_dns_timeout_is_temperror() -> None:
    signed = crlf((VECTORS / "rfc6376.signed.msg").read_bytes())
    with blackhole_udp() as address:
        resolver = Resolver([address], timeout=0.3)
        results = asyncio.run(verify_dkim(signed, resolver))
    assert [r.result for r in results] == ["temperror", "temperror"]


@needs_vectors
def test_revoked_key_is_permerror(dns_server: DnsTestServer) -> None:
    """RFC 6376 §3.6.1: an empty p= is a revoked key; §6.1.2 step 7: PERMFAIL (key revoked)."""
    signed = publish_vectors(dns_server)
    dns_server.set(RSA_NAME, "TXT", ["v=DKIM1; k=rsa; p="])
    results = run(signed, dns_server)
    assert (results[1].result, results[1].problem) == ("permerror", "key revoked")
    assert results[0].result == "pass"


@needs_vectors
@pytest.mark.parametrize(
    ("record", "problem"),
    [
        (BRISBANE, "key type does not match the signature algorithm"),
        ("v=DKIM2; k=rsa; p=AAAA", "key record has an unknown version"),
        ("v=DKIM1; k=rsa; h=sha1; p=AAAA", "key record does not allow sha256"),
        ("v=DKIM1; k=rsa; s=tlsrpt; p=AAAA", "key record is not for email"),
        ("v=DKIM1; k=rsa", "key record has no p="),
        ("v=DKIM1; k=rsa; p=bm90IGEga2V5", "unusable key"),
    ],
)
def test_unusable_key_records_are_permerror(
    dns_server: DnsTestServer, record: str, problem: str
) -> None:
    signed = publish_vectors(dns_server)
    dns_server.set(RSA_NAME, "TXT", [record])
    result = run(signed, dns_server)[1]
    assert result.result == "permerror"
    assert result.problem.startswith(problem)


def _sign_with(tmp_path: Path, kind: dkim_keys.KeyType, server: DnsTestServer) -> bytes:
    key = dkim_keys.generate(kind, 2048)
    dkim_keys.write_key(dkim_keys.key_path(tmp_path, "example.test", "s1"), key)
    server.set("s1._domainkey.example.test", "TXT", [dkim_keys.dns_record(key.public_key())])
    signature = DkimSigner(tmp_path, "s1").sign(MESSAGE, "example.test")
    assert signature is not None
    return signature + MESSAGE


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_roost_signed_messages_verify(
    tmp_path: Path, dns_server: DnsTestServer, kind: dkim_keys.KeyType
) -> None:
    signed = _sign_with(tmp_path, kind, dns_server)
    (result,) = run(signed, dns_server)
    assert (result.result, result.domain, result.selector) == ("pass", "example.test", "s1")
    assert result.algorithm == ("rsa-sha256" if kind == "rsa" else "ed25519-sha256")
    # relaxed/relaxed survives refolding of a header by a relay
    refolded = signed.replace(b"Subject: hello", b"Subject:\r\n   hello")
    assert run(refolded, dns_server)[0].result == "pass"


def test_rsa_sha1_is_permerror(tmp_path: Path, dns_server: DnsTestServer) -> None:
    """RFC 8301 §3.1: verifiers MUST NOT consider rsa-sha1 signatures valid."""
    key = dkim_keys.generate("rsa", 2048)
    dns_server.set("old._domainkey.example.test", "TXT", [dkim_keys.dns_record(key.public_key())])
    pem = dkim_keys.dkimpy_private(key)
    sig = dkim.sign(MESSAGE, b"old", b"example.test", pem, signature_algorithm=b"rsa-sha1")
    (result,) = run(sig + MESSAGE, dns_server)
    assert result.result == "permerror"
    assert "rsa-sha1" in result.problem
    assert result.algorithm == "rsa-sha1"


def test_small_rsa_key_is_permerror(dns_server: DnsTestServer) -> None:
    """RFC 8301 §3.2: RSA keys under 1024 bits MUST NOT be accepted (512 bits here)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a 512-bit key (cryptography refuses to)")
    pem = subprocess.run(
        ["openssl", "genrsa", "512"], check=True, capture_output=True, timeout=30
    ).stdout
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    dns_server.set("tiny._domainkey.example.test", "TXT", [dkim_keys.dns_record(key.public_key())])
    sig = dkim.sign(MESSAGE, b"tiny", b"example.test", dkim_keys.dkimpy_private(key))
    (result,) = run(sig + MESSAGE, dns_server)
    assert result.result == "permerror"
    assert "too small" in result.problem


def test_signature_not_covering_from_is_permerror(
    tmp_path: Path, dns_server: DnsTestServer
) -> None:
    signed = _sign_with(tmp_path, "rsa", dns_server)
    start = signed.index(b"h=")
    end = signed.index(b";", start)
    h_value = signed[start:end].replace(b"\r\n", b"").replace(b" ", b"")
    names = [n for n in h_value[2:].split(b":") if n != b"from"]
    stripped = signed[:start] + b"h=" + b":".join(names) + signed[end:]
    (result,) = run(stripped, dns_server)
    assert (result.result, result.problem) == ("permerror", "signature does not cover From")


def test_malformed_signature_is_permerror(dns_server: DnsTestServer) -> None:
    for header in (b"DKIM-Signature: v=1; a=rsa-sha256; garbage\r\n", b"DKIM-Signature: v=1\r\n"):
        (result,) = run(header + MESSAGE, dns_server)
        assert result.result == "permerror", result
    assert dns_server.queries() == 0


def test_unsigned_message_has_no_results(dns_server: DnsTestServer) -> None:
    assert run(MESSAGE, dns_server) == []
    assert run(b"", dns_server) == []


def test_max_signatures_and_unique_header_b(tmp_path: Path, dns_server: DnsTestServer) -> None:
    signed = _sign_with(tmp_path, "rsa", dns_server)
    signature, _, _ = signed.partition(b"From:")
    many = signature * 5 + MESSAGE  # identical signatures share b=, so all 8 chars suffice
    results = run(many, dns_server, max_signatures=3)
    assert [r.result for r in results] == ["pass"] * 3
    assert all(len(r.header_b) == 8 for r in results)
    assert dns_server.queries("s1._domainkey.example.test", "TXT") == 1


def test_header_b_extends_until_unique() -> None:
    from roost.auth.dkim_verify import _unique_header_b

    def result(b: str) -> DkimResult:
        return DkimResult("pass", "d", "s", "rsa-sha256", b)

    out = _unique_header_b([result("ABCDEFGHxyz1"), result("ABCDEFGHxyz2"), result("Q" * 20)])
    assert [r.header_b for r in out] == ["ABCDEFGHxyz1", "ABCDEFGHxyz2", "Q" * 8]
