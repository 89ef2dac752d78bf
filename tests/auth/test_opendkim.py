"""Cross-checks with OpenDKIM (Debian's opendkim + opendkim-tools), both directions real runs.

- OpenDKIM verifies Roost-signed mail: ``opendkim -t`` (test mode) with ``TestPublicKeys``, a
  file of key records, because its resolver cannot be pointed at the loopback DNS port.
- Roost verifies OpenDKIM-signed mail: ``opendkim-testmsg`` signs (it always uses rsa-sha1,
  which RFC 8301 forbids), and Roost reads the key from the loopback DNS server: the result is
  the RFC 8301 permerror, while the same signature checked by dkimpy without that rule is good,
  so the refusal is the algorithm and not a broken parse.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import dkim
import pytest

from roost.auth import dkim_keys
from roost.auth.dkim import DkimSigner
from roost.auth.dkim_verify import verify_dkim
from roost.dns.resolver import Resolver
from tests.dnsserver import DnsTestServer

OPENDKIM = shutil.which("opendkim") or "/usr/sbin/opendkim"
TESTMSG = shutil.which("opendkim-testmsg") or "/usr/sbin/opendkim-testmsg"
pytestmark = pytest.mark.skipif(
    not (Path(OPENDKIM).exists() and Path(TESTMSG).exists()),
    reason="OpenDKIM is not installed (apt-get install opendkim opendkim-tools)",
)

MESSAGE = (
    b"From: Alice <alice@example.test>\r\n"
    b"To: bob@remote.test\r\n"
    b"Subject: cross-check\r\n"
    b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
    b"Message-ID: <x@example.test>\r\n"
    b"\r\n"
    b"Hello from Roost.\r\n"
)


def opendkim_verify(tmp_path: Path, message: bytes, keys: dict[str, str]) -> str:
    """Run ``opendkim -t`` on one message; its verdict line (printed on stdout)."""
    (tmp_path / "keys.txt").write_text("".join(f"{n} {r}\n" for n, r in keys.items()))
    (tmp_path / "opendkim.conf").write_text(
        f"Mode v\nSyslog no\nTestPublicKeys {tmp_path / 'keys.txt'}\n"
    )
    (tmp_path / "message.eml").write_bytes(message)
    done = subprocess.run(
        [OPENDKIM, "-x", str(tmp_path / "opendkim.conf"), "-t", str(tmp_path / "message.eml")],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.decode() + done.stderr.decode()


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_opendkim_verifies_roost_signatures(tmp_path: Path, kind: dkim_keys.KeyType) -> None:
    key = dkim_keys.generate(kind, 2048)
    dkim_keys.write_key(dkim_keys.key_path(tmp_path, "example.test", "r1"), key)
    signature = DkimSigner(tmp_path, "r1").sign(MESSAGE, "example.test")
    assert signature is not None
    keys = {"r1._domainkey.example.test": dkim_keys.dns_record(key.public_key())}
    verdict = opendkim_verify(tmp_path, signature + MESSAGE, keys)
    assert "verification (s=r1, d=example.test" in verdict
    assert verdict.rstrip().endswith("succeeded"), verdict
    tampered = signature + MESSAGE.replace(b"Hello", b"Jello")
    verdict = opendkim_verify(tmp_path, tampered, keys)
    assert "failed" in verdict, verdict


def test_roost_verifies_opendkim_signatures(tmp_path: Path, dns_server: DnsTestServer) -> None:
    key = dkim_keys.generate("rsa", 2048)
    path = dkim_keys.key_path(tmp_path, "example.test", "od")
    dkim_keys.write_key(path, key)
    done = subprocess.run(
        [TESTMSG, "-C", "-d", "example.test", "-s", "od", "-k", str(path)],
        input=MESSAGE,
        capture_output=True,
        timeout=60,
        check=True,
    )
    signed = done.stdout.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert signed.startswith(b"DKIM-Signature:")
    record = dkim_keys.dns_record(key.public_key())
    dns_server.set("od._domainkey.example.test", "TXT", [record])

    (result,) = asyncio.run(verify_dkim(signed, Resolver.from_config(dns_server.config())))
    assert (result.domain, result.selector, result.algorithm) == ("example.test", "od", "rsa-sha1")
    assert result.result == "permerror"  # RFC 8301 §3.1
    assert "rsa-sha1" in result.problem

    def dnsfunc(name: bytes, timeout: float = 5) -> bytes:
        return record.encode()

    assert dkim.verify(signed, dnsfunc=dnsfunc)  # the signature itself is sound
    (broken,) = asyncio.run(
        verify_dkim(signed.replace(b"Hello", b"Jello"), Resolver.from_config(dns_server.config()))
    )
    assert broken.result == "permerror"
