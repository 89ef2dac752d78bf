"""ARC (RFC 8617): validating a message's Authenticated Received Chain, and sealing mail Roost
forwards (aliases with external targets), so the next hop can see our authentication verdict
after forwarding has broken SPF (and perhaps DKIM).

Like DKIM verification, the key lookups run first through Roost's async resolver and dkimpy
then checks the chain in a worker thread with a prefetched ``dnsfunc``. Sealing is CPU-only.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

import dkim
from dkim.canonicalization import CanonicalizationPolicy
from dkim.crypto import HASH_ALGORITHMS, UnparsableKeyError, parse_pem_private_key
from dkim.util import InvalidTagValueList, parse_tag_value

from roost.auth.authresults import authserv_id_of, split_results
from roost.auth.dkim_verify import (
    MIN_RSA_BITS,
    KeyLookup,
    fetch_keys,
    key_name,
    prefetched_dnsfunc,
)
from roost.dns.resolver import Resolver

MAX_INSTANCE = 50  # RFC 8617 §4.2.1: i= is 1..50
ARC_FIELDS = (b"arc-seal", b"arc-message-signature", b"arc-authentication-results")
CHAIN_STATES = ("none", "pass", "fail")


@dataclass(frozen=True, slots=True)
class ArcResult:
    """The chain validation status (RFC 8617 §4.4) and what was wrong with it.

    ``oldest_pass``: the lowest instance whose AMS still validates, walking down from the
    newest (RFC 8617 §5.2 step 6, optional), 0 when all do; None when not computed (no chain
    or a failed one). A DNS failure during validation makes the chain ``fail`` (``problem``
    says so): ARC has no temperror result.
    """

    result: str  # none pass fail
    instances: int
    problem: str = ""
    oldest_pass: int | None = None


def _arc_fields(message: bytes) -> list[tuple[bytes, bytes]]:
    try:
        headers, _ = dkim.rfc822_parse(message)
    except dkim.DKIMException:
        return []
    return [(bytes(n), bytes(v)) for n, v in headers if bytes(n).lower() in ARC_FIELDS]


def _key_names(fields: list[tuple[bytes, bytes]]) -> list[str]:
    names = []
    for name, value in fields:
        if name.lower() == b"arc-authentication-results":
            continue
        try:
            tags = parse_tag_value(re.sub(rb"\r?\n", b"", value))
        except InvalidTagValueList:
            continue
        if b"s" in tags and b"d" in tags:
            names.append(key_name(tags[b"s"], tags[b"d"]))
    return names


async def verify_arc(message: bytes, resolver: Resolver) -> ArcResult:
    """Validate the chain (RFC 8617 §5.2): none without ARC fields, else pass or fail."""
    fields = _arc_fields(message)
    if not fields:
        return ArcResult("none", 0)
    keys = await fetch_keys(resolver, _key_names(fields))
    temp = sorted(n for n, k in keys.items() if k.temperror)
    result = await asyncio.to_thread(_validate, message, keys)
    if result.result == "fail" and temp:
        problem = f"{result.problem}; DNS temporary failure for {', '.join(temp)}"
        return ArcResult("fail", result.instances, problem)
    return result


def _validate(message: bytes, keys: Mapping[str, KeyLookup]) -> ArcResult:
    arc = dkim.ARC(message, minkey=MIN_RSA_BITS)
    instances, _ = arc.sorted_arc_headers()
    try:
        cv, data, reason = arc.verify(dnsfunc=prefetched_dnsfunc(keys))
    except dkim.DKIMException as exc:
        return ArcResult("fail", instances, str(exc))
    if cv == dkim.CV_Pass:
        return ArcResult("pass", instances, "", _oldest_pass(data))
    if cv == dkim.CV_None:
        # dkimpy says "none" only without instances; ARC fields that carry no usable i= are
        # a broken chain (RFC 8617 §5.2 step 2: structure problems are a fail).
        if instances == 0:
            return ArcResult("fail", 0, "ARC fields without a valid instance")
        return ArcResult("none", instances, str(reason))
    # cv is None when a seal says cv=fail: the chain already failed upstream (§5.2 step 2).
    return ArcResult("fail", instances, str(reason))


def _oldest_pass(data: list[dict[str, object]]) -> int:
    """Walk AMSs from the newest down; the lowest instance of the validating run, 0 if all."""
    ordered = sorted(data, key=lambda r: int(str(r["instance"])), reverse=True)
    lowest = 0
    for entry in ordered:
        if not entry.get("ams-valid"):
            return lowest
        lowest = int(str(entry["instance"]))
    return 0


# -- sealing -------------------------------------------------------------------------------------


def _existing(arc: dkim.ARC) -> tuple[int, list[tuple[int, tuple[bytes, bytes]]], bytes]:
    """(highest instance, instance-tagged ARC fields, cv= of the highest seal)."""
    highest, tagged = arc.sorted_arc_headers()
    cv = b""
    for i, (name, value) in tagged:
        if i == highest and name.lower() == b"arc-seal":
            try:
                cv = parse_tag_value(value).get(b"cv", b"").lower()
            except InvalidTagValueList:
                cv = b"fail"
    return highest, tagged, cv


def _our_results(headers: list[tuple[bytes, bytes]], authserv_id: str) -> list[str]:
    """Results of every A-R field with our authserv-id, in message order (consolidated)."""
    results: list[str] = []
    for name, value in headers:
        if bytes(name).lower() != b"authentication-results":
            continue
        if authserv_id_of(bytes(value)) != authserv_id.lower():
            continue
        results.extend(r for r in split_results(bytes(value))[1:] if r.lower() != "none")
    return results


def seal(
    message: bytes,
    *,
    domain: str,
    selector: str,
    private_key_pem: bytes,
    authserv_id: str,
    chain_validation: str,
    timestamp: int | None = None,
    include_headers: list[bytes] | None = None,
    standardize: bool = False,
) -> bytes:
    """The ARC-Seal, ARC-Message-Signature and ARC-Authentication-Results lines to prepend.

    RFC 8617 §5.1: ``chain_validation`` is our verdict on the incoming chain (``verify_arc``);
    the AAR carries the results of our Authentication-Results field(s) (those with
    ``authserv_id``; the message should already contain ours). Returns b"" when no set may be
    added: the chain already failed upstream (a seal with cv=fail; §5.1.1 says not to
    continue it) or it has 50 instances. rsa-sha256 only, the one algorithm ARC defines.
    ``standardize`` writes unfolded, sorted tags (the form the ValiMail suite expects).
    """
    cv = chain_validation.lower()
    if cv not in CHAIN_STATES:
        raise ValueError(f"chain_validation must be one of {CHAIN_STATES}, not {cv!r}")
    try:
        pk = parse_pem_private_key(private_key_pem)
    except UnparsableKeyError as exc:
        raise ValueError(f"ARC needs an RSA private key in PEM form: {exc}") from exc
    arc = dkim.ARC(message, signature_algorithm=b"rsa-sha256", linesep=b"\r\n")
    highest, tagged, last_cv = _existing(arc)
    if last_cv == b"fail" or highest >= MAX_INSTANCE:
        return b""
    instance = highest + 1
    if instance == 1:
        cv = "none"  # §4.1.3: the first set always says cv=none
    elif cv == "none":
        raise ValueError("a message with an ARC chain needs chain_validation pass or fail")
    results = _our_results(arc.headers, authserv_id) or [f"arc={cv}"]
    if include_headers is None:
        include_headers = [n for n in arc.default_sign_headers() if n.lower() != b"arc-seal"]
    include = tuple(h.lower() for h in include_headers)
    if b"from" not in include:
        include += (b"from",)

    canon = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
    # §4.1.3: a failed chain's seal covers only the set being added.
    chain = [field for _, field in tagged] if cv != "fail" else []
    aar = f"i={instance}; {authserv_id}" + "".join(f";\r\n {r}" for r in results) + "\r\n"
    aar_value = aar.encode("utf-8")
    chain.insert(0, (b"ARC-Authentication-Results", aar_value))
    arc.headers = canon.canonicalize_headers(chain[:1]) + arc.headers
    arc.hasher = HASH_ALGORITHMS[b"rsa-sha256"]
    body_hash = arc.hasher(canon.canonicalize_body(arc.body)).digest()
    stamp = str(timestamp if timestamp is not None else int(_now())).encode("ascii")
    ams_fields = [
        (b"i", str(instance).encode()),
        (b"a", b"rsa-sha256"),
        (b"c", b"relaxed/relaxed"),
        (b"d", domain.encode()),
        (b"s", selector.encode()),
        (b"t", stamp),
        (b"h", b" : ".join(include)),
        (b"bh", base64.b64encode(body_hash)),
        (b"b", b"0" * 60),  # placeholder so folding before b= does not move
    ]
    ams = arc.gen_header(ams_fields, include, canon, b"ARC-Message-Signature", pk, standardize)
    chain.insert(0, (b"ARC-Message-Signature", ams))
    arc.headers = canon.canonicalize_headers(chain[:1]) + arc.headers
    as_fields = [
        (b"i", str(instance).encode()),
        (b"cv", cv.encode()),
        (b"a", b"rsa-sha256"),
        (b"d", domain.encode()),
        (b"s", selector.encode()),
        (b"t", stamp),
        (b"b", b"0" * 60),
    ]
    as_include = [name.lower() for name, _ in chain]
    as_include.reverse()
    if cv == "fail":
        arc.headers.reverse()  # hash_headers then picks only the newest set's fields
    seal_value = arc.gen_header(as_fields, as_include, canon, b"ARC-Seal", pk, standardize)
    return (
        b"ARC-Seal: "
        + _crlf(seal_value)
        + b"ARC-Message-Signature: "
        + _crlf(ams)
        + b"ARC-Authentication-Results: "
        + aar_value
    )


def _crlf(value: bytes) -> bytes:
    return value if value.endswith(b"\r\n") else value + b"\r\n"


def _now() -> float:
    return time.time()
