"""DKIM signing: sign with DkimSigner, verify with dkimpy against the record we would publish."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from roost.auth import dkim_keys
from roost.auth.dkim import DkimError, DkimSigner, header_list, signing_domain
from roost.config.model import RoostConfig

pytest.importorskip("nacl")  # dkimpy's Ed25519 support

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "dkim"

MESSAGE = (
    b"From: Alice <alice@example.test>\r\n"
    b"To: bob@remote.test\r\n"
    b"Subject: hello\r\n"
    b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
    b"Message-ID: <1@example.test>\r\n"
    b"X-Mailer: test\r\n"
    b"\r\n"
    b"Hello Bob.\r\n"
)


def dnsfunc(records: Mapping[str, str]):  # type: ignore[no-untyped-def]
    """dkimpy's DNS hook served from a dict: name (no trailing dot) -> TXT value."""

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        value = records.get(name.decode().rstrip(".").lower())
        return value.encode() if value is not None else None

    return lookup


def make_key(key_dir: Path, domain: str, selector: str, kind: dkim_keys.KeyType) -> str:
    """Write a key where DkimSigner looks for it; return its DNS record."""
    key = dkim_keys.generate(kind, 2048)
    dkim_keys.write_key(dkim_keys.key_path(key_dir, domain, selector), key)
    return dkim_keys.dns_record(key.public_key())


def tag(signature: bytes, name: str) -> str:
    """The value of one tag of a DKIM-Signature field (unfolded)."""
    value = signature.split(b":", 1)[1].decode().replace("\r\n", "")
    tags = dict(t.strip().split("=", 1) for t in value.split(";") if "=" in t)
    return "".join(tags[name].split())


def verify(signed: bytes, records: Mapping[str, str]) -> bool:
    return bool(dkim.verify(signed, dnsfunc=dnsfunc(records)))


@pytest.mark.parametrize(
    ("kind", "algorithm"), [("rsa", "rsa-sha256"), ("ed25519", "ed25519-sha256")]
)
def test_sign_verifies(tmp_path: Path, kind: dkim_keys.KeyType, algorithm: str) -> None:
    """The signature verifies against the published record; algorithm follows the key."""
    record = make_key(tmp_path, "example.test", "roost", kind)
    signer = DkimSigner(tmp_path, "roost")
    sig = signer.sign(MESSAGE, "example.test")
    assert sig is not None
    assert sig.startswith(b"DKIM-Signature: ")
    assert sig.endswith(b"\r\n")
    assert tag(sig, "a") == algorithm
    assert tag(sig, "c") == "relaxed/relaxed"
    assert tag(sig, "d") == "example.test"
    assert tag(sig, "s") == "roost"
    assert verify(sig + MESSAGE, {"roost._domainkey.example.test": record})


def test_header_list_and_oversigned_from(tmp_path: Path) -> None:
    """h= has the present listed fields, not X-Mailer, and From twice (RFC 6376 §8.15)."""
    make_key(tmp_path, "example.test", "roost", "ed25519")
    sig = DkimSigner(tmp_path, "roost").sign(MESSAGE, "example.test")
    assert sig is not None
    h = [n.strip() for n in tag(sig, "h").split(":")]
    assert h == ["from", "to", "subject", "date", "message-id", "from"]


def test_oversigning_rejects_added_from(tmp_path: Path) -> None:
    """A second From added after signing breaks the signature."""
    record = make_key(tmp_path, "example.test", "roost", "rsa")
    sig = DkimSigner(tmp_path, "roost").sign(MESSAGE, "example.test")
    assert sig is not None
    tampered = sig + b"From: mallory@evil.test\r\n" + MESSAGE
    assert not verify(tampered, {"roost._domainkey.example.test": record})


def test_relaxed_survives_refolding(tmp_path: Path) -> None:
    """relaxed/relaxed: header whitespace and case changes by relays do not break it."""
    record = make_key(tmp_path, "example.test", "roost", "rsa")
    sig = DkimSigner(tmp_path, "roost").sign(MESSAGE, "example.test")
    assert sig is not None
    changed = MESSAGE.replace(b"Subject: hello", b"SUBJECT:   hello").replace(
        b"Hello Bob.\r\n", b"Hello   Bob.  \r\n\r\n"
    )
    assert verify(sig + changed, {"roost._domainkey.example.test": record})


def test_list_unsubscribe_signed(tmp_path: Path) -> None:
    """RFC 8058 one-click fields are in h= when present."""
    make_key(tmp_path, "example.test", "roost", "ed25519")
    message = (
        b"List-Unsubscribe: <https://example.test/u/1>\r\n"
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" + MESSAGE
    )
    assert header_list(message)[:2] == [b"list-unsubscribe", b"list-unsubscribe-post"]


def test_no_key_returns_none(tmp_path: Path) -> None:
    """No key file for the domain/selector: nothing to prepend."""
    assert DkimSigner(tmp_path, "roost").sign(MESSAGE, "example.test") is None
    make_key(tmp_path, "example.test", "other", "rsa")
    assert DkimSigner(tmp_path, "roost").sign(MESSAGE, "example.test") is None


def test_rotation_by_selector(tmp_path: Path) -> None:
    """Two keys on disk; config's selectors[domain] decides which signs."""
    old = make_key(tmp_path, "example.test", "s2023", "rsa")
    new = make_key(tmp_path, "example.test", "s2024", "rsa")
    records = {"s2023._domainkey.example.test": old, "s2024._domainkey.example.test": new}
    before = DkimSigner(tmp_path, "roost", {"example.test": "s2023"}).sign(MESSAGE, "example.test")
    after = DkimSigner(tmp_path, "roost", {"Example.TEST": "s2024"}).sign(MESSAGE, "example.test")
    assert before is not None
    assert after is not None
    assert tag(before, "s") == "s2023"
    assert tag(after, "s") == "s2024"
    assert verify(after + MESSAGE, records)
    assert not verify(after + MESSAGE, {"s2024._domainkey.example.test": old})
    assert verify(before + MESSAGE, records)  # mail signed before the switch still verifies


def test_from_config(tmp_path: Path) -> None:
    """key_dir resolves under server.data_dir; selectors per domain, else the default."""
    config = RoostConfig()
    config.server.data_dir = str(tmp_path)
    config.dkim.selectors = {"b.test": "sb"}
    signer = DkimSigner.from_config(config)
    assert signer.key_dir == tmp_path / "dkim"
    assert signer.selector_for("a.test") == "roost"
    assert signer.selector_for("b.test") == "sb"


def test_key_reloaded_when_file_changes(tmp_path: Path) -> None:
    """keygen --force replaces the file; the next signature uses the new key without restart."""
    first = make_key(tmp_path, "example.test", "roost", "rsa")
    signer = DkimSigner(tmp_path, "roost")
    name = "roost._domainkey.example.test"
    sig = signer.sign(MESSAGE, "example.test")
    assert sig is not None
    assert verify(sig + MESSAGE, {name: first})
    path = dkim_keys.key_path(tmp_path, "example.test", "roost")
    st = path.stat()
    second = make_key(tmp_path, "example.test", "roost", "ed25519")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    sig = signer.sign(MESSAGE, "example.test")
    assert sig is not None
    assert tag(sig, "a") == "ed25519-sha256"
    assert verify(sig + MESSAGE, {name: second})
    path.unlink()
    assert signer.sign(MESSAGE, "example.test") is None


def test_broken_key_file_raises(tmp_path: Path) -> None:
    """A key file that is not a key is an operator error the caller must see."""
    path = dkim_keys.key_path(tmp_path, "example.test", "roost")
    path.write_text("not a key")
    with pytest.raises(DkimError, match="unusable DKIM key"):
        DkimSigner(tmp_path, "roost").sign(MESSAGE, "example.test")


def test_eight_bit_message(tmp_path: Path) -> None:
    """UTF-8 headers and body (SMTPUTF8 / 8BITMIME mail) sign and verify."""
    record = make_key(tmp_path, "example.test", "roost", "ed25519")
    message = MESSAGE.replace(b"Subject: hello", "Subject: grüße".encode()) + "ü\r\n".encode()
    sig = DkimSigner(tmp_path, "roost").sign(message, "example.test")
    assert sig is not None
    assert verify(sig + message, {"roost._domainkey.example.test": record})


@pytest.mark.parametrize(
    ("from_field", "expected"),
    [
        (b"From: Alice <alice@Example.TEST>\r\n", "example.test"),
        (b"From: alice@example.test\r\n", "example.test"),
        (b"From: =?utf-8?q?A=C3=BC?= <a@example.test>\r\n", "example.test"),
        (b"From: x@remote.test\r\n", None),
        (b"From: a@example.test, b@remote.test\r\n", None),
        (b"From: a@example.test\r\nFrom: a@example.test\r\n", None),
        (b"", None),
    ],
)
def test_signing_domain(from_field: bytes, expected: str | None) -> None:
    """The RFC5322.From domain when local (DMARC alignment); ambiguous Froms get None."""
    message = from_field + b"To: b@remote.test\r\nSubject: s\r\n\r\nbody\r\n"
    assert signing_domain(message, {"example.test", "other.test"}) == expected


# --- shared test vectors (dkimpy's test data, ../shared/testdata/dkim) -------------------------

# CI always has ../shared beside the clone; only a developer's odd checkout may lack it.
needs_vectors = pytest.mark.skipif(
    not VECTORS.is_dir() and not os.environ.get("CI"), reason="shared/testdata/dkim missing"
)


def crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def vector_key(name: str) -> ed25519.Ed25519PrivateKey:
    """An Ed25519 key stored as dkimpy does: base64 of the 32-byte seed."""
    seed = base64.b64decode((VECTORS / name).read_bytes())
    return ed25519.Ed25519PrivateKey.from_private_bytes(seed)


@needs_vectors
def test_vector_rfc8463_example_verifies() -> None:
    """RFC 8463 §A.3: both signatures verify; the brisbane record is our dns_record() of the
    RFC 8032 §7.1 test key (A.2's published p=), so dns_record is checked against the RFC too."""
    brisbane = dkim_keys.dns_record(vector_key("rfc8032_7_1.key").public_key())
    assert brisbane == "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
    records = {
        "brisbane._domainkey.football.example.com": brisbane,
        "test._domainkey.football.example.com": (VECTORS / "test.txt").read_text(),
    }
    signed = crlf((VECTORS / "rfc6376.signed.msg").read_bytes())
    assert verify(signed, records)  # first signature: ed25519-sha256
    assert verify(signed[signed.index(b"DKIM-Signature", 10) :], records)  # rsa-sha256


@needs_vectors
@pytest.mark.parametrize(
    ("key_file", "selector"), [("rfc8032_7_1.key", "brisbane"), ("ed25519test.key", "ed")]
)
def test_vector_ed25519_keys_sign(tmp_path: Path, key_file: str, selector: str) -> None:
    """The vectors' Ed25519 keys, stored our way (PKCS#8 PEM), sign the RFC 6376 example so it
    verifies; for ed25519test.key the record is the vectors' own ed25519test.dns."""
    key = vector_key(key_file)
    dkim_keys.write_key(dkim_keys.key_path(tmp_path, "football.example.com", selector), key)
    record = dkim_keys.dns_record(key.public_key())
    if key_file == "ed25519test.key":
        published = (VECTORS / "ed25519test.dns").read_text().strip()
        assert record.endswith(published)
        record = published
    message = crlf((VECTORS / "rfc6376.msg").read_bytes())
    sig = DkimSigner(tmp_path, selector).sign(message, "football.example.com")
    assert sig is not None
    assert tag(sig, "a") == "ed25519-sha256"
    assert verify(sig + message, {f"{selector}._domainkey.football.example.com": record})


@needs_vectors
def test_vector_rsa_key_signs_test_message(tmp_path: Path) -> None:
    """dkimpy's RSA test key (PKCS#1 PEM) and record: our signer's output verifies."""
    path = dkim_keys.key_path(tmp_path, "example.com", "test")
    path.write_bytes((VECTORS / "test.private").read_bytes())
    message = crlf((VECTORS / "test.message").read_bytes())
    assert signing_domain(message, {"example.com"}) == "example.com"
    sig = DkimSigner(tmp_path, "test").sign(message, "example.com")
    assert sig is not None
    assert tag(sig, "a") == "rsa-sha256"
    record = (VECTORS / "test.txt").read_text()
    assert verify(sig + message, {"test._domainkey.example.com": record})
    assert not verify(
        sig + message, {"test._domainkey.example.com": (VECTORS / "badk.txt").read_text()}
    )


@needs_vectors
def test_vector_message_without_from() -> None:
    """No From field: there is no domain DMARC could align with, so nothing to sign for."""
    message = crlf((VECTORS / "test_nofrom.message").read_bytes())
    assert signing_domain(message, {"example.com"}) is None
