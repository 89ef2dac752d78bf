"""DKIM signing of outbound mail (RFC 6376), with Ed25519 keys per RFC 8463.

The queue manager asks `DkimSigner.sign()` for the `DKIM-Signature:` field to prepend before it
hands a message to a remote MX. The signing domain is the RFC 5322 From domain
(`signing_domain`), because that is the identifier DMARC (RFC 7489 §3.1) aligns on; a signature
for any other domain would not help the message pass DMARC.

Choices, and why:
- relaxed/relaxed canonicalization: survives the whitespace and folding changes relays make;
  simple/simple breaks on the first re-folded header.
- The algorithm follows the key: rsa-sha256 for RSA keys (RFC 8301 forbids rsa-sha1 and keys
  under 1024 bits), ed25519-sha256 for Ed25519 keys (RFC 8463).
- The signed header list is the fields a reader sees or that affect display and unsubscribing
  (RFC 6376 §5.4.1 recommends From, Subject, Date, To, Cc, ... and the list fields of RFC 8058),
  each as often as it occurs, and From once more: an extra, absent instance ("oversigning")
  makes a second From added later invalidate the signature (RFC 6376 §8.15).
- Keys are read from `<key_dir>/<domain>.<selector>.pem` and cached; a changed mtime reloads
  the file, so `roost dkim keygen --force` takes effect without a restart.
"""

from __future__ import annotations

import email.utils
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import dkim
from cryptography.hazmat.primitives.asymmetric import ed25519

from roost.auth import dkim_keys

if TYPE_CHECKING:
    from roost.config.model import RoostConfig

# RFC 6376 §5.4.1 and RFC 8058 §3.1 (List-Unsubscribe-Post must be signed for one-click).
SIGNED_HEADERS: tuple[str, ...] = (
    "from",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "reply-to",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "list-unsubscribe",
    "list-unsubscribe-post",
)
OVERSIGNED: tuple[str, ...] = ("from",)
CANONICALIZATION = (b"relaxed", b"relaxed")


class DkimError(Exception):
    """A key file exists but cannot be used, or dkimpy refused the message.

    The caller decides what that means for delivery (usually: log it and send unsigned, since an
    unsigned message is still better than a queue that never drains).
    """


@dataclass(frozen=True, slots=True)
class _CachedKey:
    mtime_ns: int
    size: int
    private: bytes  # in the form dkimpy takes (PEM for RSA, base64 seed for Ed25519)
    algorithm: bytes  # b"rsa-sha256" or b"ed25519-sha256"


class DkimSigner:
    """Signs messages for local domains with the key the config names for each domain."""

    def __init__(
        self, key_dir: Path, selector: str, selectors: Mapping[str, str] | None = None
    ) -> None:
        self.key_dir = key_dir
        self.default_selector = selector
        self.selectors = {d.lower(): s for d, s in (selectors or {}).items()}
        self._cache: dict[tuple[str, str], _CachedKey] = {}

    @classmethod
    def from_config(cls, config: RoostConfig) -> DkimSigner:
        """Key directory resolved under server.data_dir, selectors from [dkim]."""
        from roost.config import resolve_path

        return cls(
            resolve_path(config, config.dkim.key_dir),
            config.dkim.selector,
            config.dkim.selectors,
        )

    def selector_for(self, domain: str) -> str:
        """The selector that signs now: dkim.selectors[domain], else dkim.selector.

        Rotation: publish the new selector's record, wait for DNS, then switch it here; the old
        key stays on disk (and its record in DNS) until mail signed with it has been verified.
        """
        return self.selectors.get(domain.lower(), self.default_selector)

    def sign(self, message: bytes, domain: str) -> bytes | None:
        """The CRLF-terminated `DKIM-Signature:` field to prepend, or None without a key."""
        domain = domain.lower()
        selector = self.selector_for(domain)
        key = self._key(domain, selector)
        if key is None:
            return None
        try:
            signature = dkim.sign(
                message,
                selector.encode(),
                domain.encode(),
                key.private,
                canonicalize=CANONICALIZATION,
                signature_algorithm=key.algorithm,
                include_headers=header_list(message),
                linesep=b"\r\n",
            )
        except dkim.DKIMException as exc:
            raise DkimError(
                f"DKIM signing for {domain} (selector {selector}) failed: {exc}"
            ) from exc
        return cast(bytes, signature)

    def _key(self, domain: str, selector: str) -> _CachedKey | None:
        """The cached key, reloaded when the file changed; None when there is no file."""
        path = dkim_keys.key_path(self.key_dir, domain, selector)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self._cache.pop((domain, selector), None)
            return None
        cached = self._cache.get((domain, selector))
        if cached is not None and (cached.mtime_ns, cached.size) == (st.st_mtime_ns, st.st_size):
            return cached
        cached = _load(path, st)
        self._cache[(domain, selector)] = cached
        return cached


def _load(path: Path, st: os.stat_result) -> _CachedKey:
    try:
        key = dkim_keys.load_key(path)
    except (OSError, ValueError, TypeError) as exc:
        raise DkimError(f"{path}: unusable DKIM key: {exc}") from exc
    is_ed = isinstance(key, ed25519.Ed25519PrivateKey)
    return _CachedKey(
        mtime_ns=st.st_mtime_ns,
        size=st.st_size,
        private=dkim_keys.dkimpy_private(key),
        algorithm=b"ed25519-sha256" if is_ed else b"rsa-sha256",
    )


def _header_fields(message: bytes) -> list[tuple[bytes, bytes]]:
    """(name, raw value) of each header field, in order; [] when the header cannot be parsed."""
    try:
        headers, _ = dkim.rfc822_parse(message)
    except dkim.DKIMException:
        return []
    return [(bytes(name), bytes(value)) for name, value in headers]


def header_list(message: bytes) -> list[bytes]:
    """The h= list: each SIGNED_HEADERS field as often as present, plus OVERSIGNED once more.

    Absent fields are left out (so a list that legitimately adds List-Unsubscribe does not
    break the signature for that alone); From is always in, as RFC 6376 §5.4 requires.
    """
    present = [name.lower() for name, _ in _header_fields(message)]
    names = [n for n in present if n.decode("ascii", "replace") in SIGNED_HEADERS]
    if b"from" not in names:
        names.append(b"from")
    return names + [n.encode() for n in OVERSIGNED]


def from_domains(message: bytes) -> list[str]:
    """The domains of the addresses in the RFC 5322 From field(s), lower-cased."""
    values = [v for n, v in _header_fields(message) if n.lower() == b"from"]
    text = [v.decode("utf-8", "replace").replace("\r\n", "") for v in values]
    addresses = [addr for _, addr in email.utils.getaddresses(text) if "@" in addr]
    return [addr.rpartition("@")[2].strip().rstrip(".").lower() for addr in addresses]


def signing_domain(message: bytes, local_domains: Collection[str]) -> str | None:
    """The From domain when it is local, else None.

    DMARC aligns on the RFC5322.From domain, so that is the d= to sign with. A message with
    several From fields or authors from different domains gets None: DMARC receivers reject or
    ignore such messages anyway (RFC 7489 §6.6.1), and no single d= could align with all.
    """
    values = [v for n, v in _header_fields(message) if n.lower() == b"from"]
    domains = set(from_domains(message))
    if len(values) != 1 or len(domains) != 1:
        return None
    (domain,) = domains
    local = {d.lower() for d in local_domains}
    return domain if domain in local else None
