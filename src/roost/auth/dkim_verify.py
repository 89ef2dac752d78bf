"""Inbound DKIM verification (RFC 6376 §6) with Roost's async resolver and dkimpy's crypto.

The split keeps DNS off dkimpy: the key names are read from the signatures, looked up
concurrently with :class:`~roost.dns.resolver.Resolver` (cached, never blocking the loop), and
only then does dkimpy run, in a worker thread, with a ``dnsfunc`` that answers from the
prefetched dict. Key-record problems are classified here first so each result says why in
words (dkimpy itself only answers True/False for most of them).

Result words follow RFC 8601 §2.7.1: ``pass``, ``fail`` (a signature or body hash that does
not verify), ``temperror`` (DNS could not be asked), ``permerror`` (the signature or key can
never verify: bad syntax, key not found or revoked, unacceptable algorithm or key size).
``neutral`` and ``policy`` are not produced today but are part of the vocabulary callers see.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

import dkim
from dkim.util import InvalidTagValueList, parse_tag_value

from roost.dns.errors import DnsError, DnsTempError
from roost.dns.resolver import Resolver

MIN_RSA_BITS = 1024  # RFC 8301 §3.2: verifiers MUST NOT accept smaller RSA keys
HEADER_B_MIN = 8  # RFC 6008 §4: at least the first eight characters of b=


@dataclass(frozen=True, slots=True)
class DkimResult:
    """The outcome for one DKIM-Signature field, in the words Authentication-Results uses."""

    result: str  # pass fail neutral temperror permerror policy none
    domain: str  # d=
    selector: str  # s=
    algorithm: str  # a=
    header_b: str  # a prefix of b=, unique among the message's signatures (RFC 6008)
    problem: str = ""  # in words: "body hash mismatch", "key not found", "key revoked", ...


# -- key prefetch, shared with ARC ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyLookup:
    """One key name's TXT lookup: the first record, or why there is none."""

    record: bytes | None  # None: NXDOMAIN or no TXT record
    temperror: str = ""  # non-empty: the lookup could not be answered (DNS timeout, SERVFAIL)
    invalid: bool = False  # the name is not a valid DNS name


def key_name(selector: bytes, domain: bytes) -> str:
    """``<selector>._domainkey.<domain>`` (RFC 6376 §3.6.2.1), lower case, no root dot."""
    name = selector + b"._domainkey." + domain
    return name.decode("utf-8", "replace").strip().rstrip(".").lower()


async def fetch_keys(resolver: Resolver, names: Iterable[str]) -> dict[str, KeyLookup]:
    """Look up every key name concurrently; the resolver's cache is shared with all of Roost."""
    unique = list(dict.fromkeys(names))

    async def one(name: str) -> KeyLookup:
        try:
            answer = await resolver.txt(name)
        except DnsTempError as exc:
            return KeyLookup(None, temperror=str(exc) or "DNS temporary failure")
        except DnsError:
            return KeyLookup(None, invalid=True)
        # RFC 6376 §6.1.2 step 3: with several records a verifier may choose one; the first.
        return KeyLookup(answer.records[0] if answer.records else None)

    results = await asyncio.gather(*(one(n) for n in unique))
    return dict(zip(unique, results, strict=True))


def prefetched_dnsfunc(keys: Mapping[str, KeyLookup]) -> Callable[..., bytes | None]:
    """dkimpy's ``dnsfunc`` answered from the prefetched dict: CPU only, no I/O."""

    def lookup(name: bytes, timeout: float = 5) -> bytes | None:
        found = keys.get(name.decode("utf-8", "replace").rstrip(".").lower())
        if found is not None and found.temperror:
            raise dkim.DnsTimeoutError(found.temperror)
        return found.record if found is not None else None

    return lookup


# -- verification --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Sig:
    tags: dict[bytes, bytes] | None  # None: the tag list does not parse
    error: str = ""


def _signature_fields(message: bytes) -> list[bytes]:
    """The raw values of the DKIM-Signature fields, top first; [] when the header won't parse."""
    try:
        headers, _ = dkim.rfc822_parse(message)
    except dkim.DKIMException:
        return []
    return [bytes(v) for n, v in headers if bytes(n).lower() == b"dkim-signature"]


def _parse(value: bytes) -> _Sig:
    try:
        return _Sig(parse_tag_value(re.sub(rb"\r?\n", b"", value)))
    except InvalidTagValueList as exc:
        return _Sig(None, f"signature syntax: {exc!r}")


def _text(tags: Mapping[bytes, bytes] | None, key: bytes) -> str:
    if tags is None:
        return ""
    return re.sub(r"\s+", "", tags.get(key, b"").decode("utf-8", "replace"))


async def verify_dkim(
    message: bytes, resolver: Resolver, *, max_signatures: int = 10
) -> list[DkimResult]:
    """One result per DKIM-Signature field, top first; [] for an unsigned message.

    Only the first ``max_signatures`` are evaluated (RFC 6376 §6.1 lets verifiers limit the
    work a message can cause); the rest are not reported.
    """
    sigs = [_parse(v) for v in _signature_fields(message)[:max_signatures]]
    if not sigs:
        return []
    names = [
        key_name(s.tags[b"s"], s.tags[b"d"])
        for s in sigs
        if s.tags is not None and b"s" in s.tags and b"d" in s.tags
    ]
    keys = await fetch_keys(resolver, names)
    results = await asyncio.to_thread(_verify_all, message, sigs, keys)
    return _unique_header_b(results)


def _verify_all(
    message: bytes, sigs: list[_Sig], keys: Mapping[str, KeyLookup]
) -> list[DkimResult]:
    """CPU-only: classify each signature, then let dkimpy check hashes and signatures."""
    verifier = dkim.DKIM(message, minkey=MIN_RSA_BITS)
    dnsfunc = prefetched_dnsfunc(keys)
    return [_verify_one(verifier, idx, sig, keys, dnsfunc) for idx, sig in enumerate(sigs)]


def _verify_one(
    verifier: dkim.DKIM,
    idx: int,
    sig: _Sig,
    keys: Mapping[str, KeyLookup],
    dnsfunc: Callable[..., bytes | None],
) -> DkimResult:
    base = DkimResult(
        result="permerror",
        domain=_text(sig.tags, b"d").lower(),
        selector=_text(sig.tags, b"s"),
        algorithm=_text(sig.tags, b"a").lower(),
        header_b=_text(sig.tags, b"b"),
    )
    if sig.tags is None:
        return replace(base, problem=sig.error)
    problem = _signature_problem(sig.tags)
    if problem:
        return replace(base, problem=problem)
    lookup = keys.get(key_name(sig.tags[b"s"], sig.tags[b"d"]), KeyLookup(None, invalid=True))
    if lookup.temperror:
        return replace(base, result="temperror", problem=f"key lookup failed: {lookup.temperror}")
    if lookup.invalid:
        return replace(base, problem="s= and d= do not form a valid DNS name")
    if lookup.record is None:
        # RFC 6376 §6.1.2 step 2: no key record -> PERMFAIL (no key for signature).
        return replace(base, problem="key not found")
    problem = _key_problem(lookup.record, base.algorithm)
    if problem:
        return replace(base, problem=problem)
    try:
        ok = verifier.verify(idx, dnsfunc=dnsfunc)
    except dkim.ValidationError as exc:
        text = str(exc)
        if text.startswith("body hash mismatch"):
            return replace(base, result="fail", problem="body hash mismatch")
        return replace(base, problem=text)
    except dkim.DnsTimeoutError as exc:
        return replace(base, result="temperror", problem=f"key lookup failed: {exc}")
    except dkim.DKIMException as exc:
        return replace(base, problem=str(exc) or type(exc).__name__)
    if ok:
        return replace(base, result="pass")
    return replace(base, result="fail", problem="signature did not verify")


def _signature_problem(tags: Mapping[bytes, bytes]) -> str:
    """Why a parsed signature can never verify (RFC 6376 §6.1.1), or ""."""
    algorithm = tags.get(b"a", b"").lower()
    if algorithm == b"rsa-sha1":
        # RFC 8301 §3.1: verifiers MUST NOT consider rsa-sha1 signatures valid.
        return "rsa-sha1 is not acceptable (RFC 8301)"
    try:
        dkim.validate_signature_fields(tags)
    except dkim.ValidationError as exc:
        return f"signature: {exc}"
    signed = [h.strip().lower() for h in re.split(rb"\s*:\s*", tags[b"h"])]
    if b"from" not in signed:
        return "signature does not cover From"  # RFC 6376 §6.1.1: PERMFAIL (From not signed)
    return ""


def _key_problem(record: bytes, algorithm: str) -> str:
    """Why a key record cannot verify a signature with ``a=algorithm`` (§6.1.2 steps 5-9)."""
    try:
        tags = parse_tag_value(record)
    except InvalidTagValueList:
        return "key record syntax error"
    if b"v" in tags and tags[b"v"] != b"DKIM1":
        return "key record has an unknown version"
    if b"p" not in tags:
        return "key record has no p="
    if not tags[b"p"].strip():
        return "key revoked"  # RFC 6376 §3.6.1: an empty p= means the key was revoked
    kind = tags.get(b"k", b"rsa").lower()
    if kind not in (b"rsa", b"ed25519"):
        return f"key type {kind.decode('ascii', 'replace')} is not supported"
    if algorithm.split("-", 1)[0] != kind.decode():
        return "key type does not match the signature algorithm"
    if b"h" in tags and b"sha256" not in [h.strip() for h in tags[b"h"].split(b":")]:
        return "key record does not allow sha256"
    services = [s.strip() for s in tags.get(b"s", b"*").split(b":")]
    if b"*" not in services and b"email" not in services:
        return "key record is not for email"
    try:
        _, bits, _, _ = dkim.evaluate_pk(b"key", record)
    except (dkim.DKIMException, ValueError) as exc:
        return f"unusable key: {exc}"
    if kind == b"rsa" and bits is not None and bits < MIN_RSA_BITS:
        return f"key too small ({bits} bits; RFC 8301 needs {MIN_RSA_BITS})"
    try:
        base64.b64decode(re.sub(rb"\s+", b"", tags[b"p"]), validate=True)
    except ValueError:
        return "key is not valid base64"
    return ""


def _unique_header_b(results: list[DkimResult]) -> list[DkimResult]:
    """Shorten b= to the shortest prefix (>= 8) telling the message's signatures apart."""
    full = [r.header_b for r in results]
    out = []
    for i, r in enumerate(results):
        n = HEADER_B_MIN
        others = [b for j, b in enumerate(full) if j != i and b != r.header_b]
        while n < len(r.header_b) and any(b.startswith(r.header_b[:n]) for b in others):
            n += 1
        out.append(replace(r, header_b=r.header_b[:n]))
    return out
