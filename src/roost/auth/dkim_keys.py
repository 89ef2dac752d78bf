"""DKIM signing keys (RFC 6376 §3.6.1) and their DNS TXT records; Ed25519 per RFC 8463.

RSA-2048 is the default because every verifier supports it (RFC 8301 requires >= 1024, advises
2048); Ed25519 keys are short but many receivers still ignore them, so they are offered as a
second signature, not a replacement.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from roost.tlsutil import write_private

KeyType = Literal["rsa", "ed25519"]
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey


def generate(key_type: KeyType = "rsa", bits: int = 2048) -> PrivateKey:
    """A new private key; `bits` applies to RSA only."""
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def private_pem(key: PrivateKey) -> bytes:
    """PKCS#8 PEM for Ed25519 (PKCS#1 cannot hold it); PKCS#1 for RSA (widest support)."""
    fmt = (
        serialization.PrivateFormat.PKCS8
        if isinstance(key, ed25519.Ed25519PrivateKey)
        else serialization.PrivateFormat.TraditionalOpenSSL
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def write_key(path: Path, key: PrivateKey) -> None:
    """Write the private key as PEM with mode 0600."""
    write_private(path, private_pem(key))


def load_key(path: Path) -> PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise ValueError(f"{path}: not an RSA or Ed25519 private key")
    return key


def dkimpy_private(key: PrivateKey) -> bytes:
    """The private key in the form dkimpy's `sign(privkey=...)` expects.

    dkimpy takes RSA keys as PEM but Ed25519 keys as the base64 of the raw 32-byte seed.
    """
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return base64.b64encode(raw)
    return private_pem(key)


def key_path(key_dir: Path, domain: str, selector: str) -> Path:
    """Where the key for (domain, selector) lives: <key_dir>/<domain>.<selector>.pem."""
    return key_dir / f"{domain}.{selector}.pem"


def _public_b64(public_key: PublicKey) -> tuple[str, str]:
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        # RFC 8463 §4.2: p= is the raw 32-byte public key, base64-encoded.
        raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return "ed25519", base64.b64encode(raw).decode()
    # RFC 6376 §3.6.1: p= is the DER SubjectPublicKeyInfo, base64-encoded.
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "rsa", base64.b64encode(der).decode()


def dns_record(public_key: PublicKey) -> str:
    """The TXT value to publish at <selector>._domainkey.<domain>: "v=DKIM1; k=rsa; p=..."."""
    k, p = _public_b64(public_key)
    return f"v=DKIM1; k={k}; p={p}"


def dns_name(domain: str, selector: str) -> str:
    """RFC 6376 §3.6.2.1: the owner name of the key record."""
    return f"{selector}._domainkey.{domain}"
