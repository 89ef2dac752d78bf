"""Self-signed TLS certificates and DKIM keys with their DNS records."""

from __future__ import annotations

import base64
import ipaddress
import stat
from pathlib import Path

import dkim
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from roost.auth import dkim_keys
from roost.tlsutil import make_self_signed, write_self_signed


def test_self_signed_certificate(tmp_path: Path) -> None:
    """EC P-256, SAN hostname/localhost/127.0.0.1, ~10 years, key file 0600."""
    cert_path, key_path = tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem"
    write_self_signed(cert_path, key_path, "mail.example.test")
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["mail.example.test", "localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days >= 3649
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    assert key.public_key() == cert.public_key()


def test_localhost_not_duplicated() -> None:
    """A hostname of localhost appears once in the SAN."""
    cert = x509.load_pem_x509_certificate(make_self_signed("localhost").cert_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]


def test_rsa_dkim_key_record_and_mode(tmp_path: Path) -> None:
    """RSA-2048 key written 0600; the record's p= is the DER public key (RFC 6376 §3.6.1)."""
    key = dkim_keys.generate("rsa")
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048
    path = dkim_keys.key_path(tmp_path / "dkim", "example.test", "roost")
    dkim_keys.write_key(path, key)
    assert path.name == "example.test.roost.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    record = dkim_keys.dns_record(dkim_keys.load_key(path).public_key())
    assert record.startswith("v=DKIM1; k=rsa; p=")
    der = base64.b64decode(record.split("p=")[1])
    assert serialization.load_der_public_key(der) == key.public_key()


def test_ed25519_record_is_raw_key() -> None:
    """RFC 8463 §4.2: k=ed25519 and p= is the raw 32-byte key."""
    key = dkim_keys.generate("ed25519")
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    record = dkim_keys.dns_record(key.public_key())
    assert record.startswith("v=DKIM1; k=ed25519; p=")
    assert len(base64.b64decode(record.split("p=")[1])) == 32


def _sign_and_verify(key: dkim_keys.PrivateKey) -> bool:
    msg = b"From: a@example.test\r\nTo: b@example.test\r\nSubject: hi\r\n\r\nbody\r\n"
    record = dkim_keys.dns_record(key.public_key()).encode()
    sig = dkim.sign(
        msg,
        b"roost",
        b"example.test",
        dkim_keys.dkimpy_private(key),
        signature_algorithm=b"ed25519-sha256" if b"ed25519" in record else b"rsa-sha256",
    )
    return bool(dkim.verify(sig + msg, dnsfunc=lambda name, timeout=5: record))


def test_rsa_key_works_with_dkimpy() -> None:
    """A signature made with our key verifies against our published record."""
    assert _sign_and_verify(dkim_keys.generate("rsa"))


def test_ed25519_key_works_with_dkimpy() -> None:
    """Same for Ed25519 (dkimpy needs the optional PyNaCl for it)."""
    pytest.importorskip("nacl")
    assert _sign_and_verify(dkim_keys.generate("ed25519"))


def test_ed25519_dkimpy_form_is_the_raw_seed() -> None:
    """dkimpy takes Ed25519 keys as base64 of the 32-byte seed; it round-trips to the same key."""
    key = dkim_keys.generate("ed25519")
    seed = base64.b64decode(dkim_keys.dkimpy_private(key))
    again = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    assert again.public_key().public_bytes(*raw) == key.public_key().public_bytes(*raw)


def test_dns_name() -> None:
    """RFC 6376 §3.6.2.1: <selector>._domainkey.<domain>."""
    assert dkim_keys.dns_name("example.test", "s1") == "s1._domainkey.example.test"
