"""DMARC (RFC 7489): policy records, policy discovery, identifier alignment, the verdict.

Pure evaluation: callers pass in the SPF and DKIM results they already have, and this module
only adds the `_dmarc` TXT lookups (through Roost's cached async resolver). What to do with a
``disposition`` (reject at DATA, file into Junk) is the SMTP policy layer's decision, which may
also take a validated ARC chain (RFC 8617 §7.2) into account for a message that fails here.
"""

from __future__ import annotations

import email.parser
import email.policy
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from roost.auth.dkim_verify import DkimResult
from roost.auth.orgdomain import organizational_domain
from roost.dns.errors import DnsError, DnsTempError
from roost.dns.resolver import Resolver

POLICIES = ("none", "quarantine", "reject")
_STRENGTH = {p: i for i, p in enumerate(POLICIES)}
# RFC 7489 §6.3 "pct": messages not sampled get the next policy lower in strength.
_WEAKER = {"reject": "quarantine", "quarantine": "none", "none": "none"}


@dataclass(frozen=True, slots=True)
class DmarcRecord:
    """A parsed `v=DMARC1` record (RFC 7489 §6.3); defaults filled in as the RFC gives them."""

    p: str
    sp: str  # defaults to p
    adkim: str = "r"
    aspf: str = "r"
    pct: int = 100
    rua: tuple[str, ...] = ()
    ruf: tuple[str, ...] = ()
    fo: str = "0"
    ri: int = 86400
    v: str = "DMARC1"
    domain: str = ""  # the Author or Organizational Domain the record was found at


class DmarcRecordError(ValueError):
    """The text is not a usable DMARC record (RFC 7489 §6.6.3 says: ignore it)."""


_TAG = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")


def _uris(value: str) -> tuple[str, ...]:
    """§6.4 dmarc-uri list; a size suffix ("!10m") stays on the URI; invalid ones are dropped."""
    out = [u.strip() for u in value.split(",")]
    return tuple(u for u in out if _URI.match(u))


def parse_record(text: str | bytes, domain: str = "") -> DmarcRecord:
    """Parse one record; raises :class:`DmarcRecordError` when it must be ignored.

    §6.3: v=DMARC1 must come first; unknown tags are ignored (§6.3 last paragraph). §6.6.3
    step 6: a missing or invalid p= (or an invalid sp=) with a valid rua= acts as p=none;
    without rua= the record is unusable.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    parts = [p.strip() for p in text.split(";")]
    tags: dict[str, str] = {}
    for part in parts:
        if not part:
            continue
        name, eq, value = part.partition("=")
        name = name.strip()
        if not eq or not _TAG.match(name):
            raise DmarcRecordError(f"malformed tag {part!r}")
        tags.setdefault(name.lower(), value.strip())
    if not parts or parts[0].replace(" ", "") != "v=DMARC1":
        raise DmarcRecordError("record does not start with v=DMARC1")
    rua = _uris(tags.get("rua", ""))
    p = tags.get("p", "").lower()
    sp = tags.get("sp", p).lower()
    if p not in POLICIES or sp not in POLICIES:
        if not rua:
            raise DmarcRecordError("no valid p= (and no rua=)")
        p = sp = "none"
    return DmarcRecord(
        p=p,
        sp=sp,
        adkim=_choice(tags.get("adkim", "r"), ("r", "s"), "r"),
        aspf=_choice(tags.get("aspf", "r"), ("r", "s"), "r"),
        pct=_int(tags.get("pct"), 100, 0, 100),
        rua=rua,
        ruf=_uris(tags.get("ruf", "")),
        fo=tags.get("fo", "0") or "0",
        ri=_int(tags.get("ri"), 86400, 0, 2**32 - 1),
        domain=domain,
    )


def _choice(value: str, allowed: tuple[str, ...], default: str) -> str:
    value = value.lower()
    return value if value in allowed else default


def _int(value: str | None, default: int, low: int, high: int) -> int:
    """Out-of-range or non-numeric values take the default (a lenient reading of §6.3)."""
    if value is None or not value.isdigit():
        return default
    number = int(value)
    return number if low <= number <= high else default


async def _record_at(resolver: Resolver, domain: str) -> DmarcRecord | None:
    """§6.6.3 steps 1-2: the one valid v=DMARC1 record at `_dmarc.<domain>`, else None."""
    try:
        answer = await resolver.txt(f"_dmarc.{domain}")
    except DnsTempError:
        raise
    except DnsError:
        return None
    candidates = [r for r in answer.records if r.lstrip().lower().startswith(b"v=dmarc1")]
    parsed = []
    for raw in candidates:
        try:
            parsed.append(parse_record(raw, domain))
        except DmarcRecordError:
            continue
    # Several records: "policy discovery terminates and DMARC processing is not applied".
    return parsed[0] if len(parsed) == 1 and len(candidates) == 1 else None


async def discover_policy(resolver: Resolver, from_domain: str) -> DmarcRecord | None:
    """§6.6.3: `_dmarc.<Author Domain>`, then `_dmarc.<Organizational Domain>`.

    Raises :class:`DnsTempError` when either lookup cannot be answered (a temperror).
    """
    domain = from_domain.lower().rstrip(".")
    record = await _record_at(resolver, domain)
    if record is not None:
        return record
    org = organizational_domain(domain)
    if org != domain:
        return await _record_at(resolver, org)
    return None


@dataclass(frozen=True, slots=True)
class DmarcResult:
    """The DMARC verdict for a message.

    ``policy`` is the requested policy that applies to this Author Domain (p=, or sp= for a
    subdomain whose record came from the Organizational Domain); ``disposition`` is what to do
    with this message: "none" unless the result is fail, else the policy after pct sampling.
    """

    result: str  # pass fail none temperror permerror
    policy: str  # none quarantine reject
    from_domain: str
    org_domain: str
    record: DmarcRecord | None
    spf_aligned: bool
    dkim_aligned: bool
    aligned_dkim_domain: str
    disposition: str  # none quarantine reject
    reason: str = ""
    per_domain: tuple[DmarcResult, ...] = field(default=(), compare=False, repr=False)


def _aligned(identifier: str, author: str, mode: str) -> bool:
    """§3.1.1 / §3.1.2: strict = same FQDN; relaxed = same Organizational Domain."""
    a, b = identifier.lower().rstrip("."), author.lower().rstrip(".")
    if not a or not b:
        return False
    if mode == "s":
        return a == b
    return organizational_domain(a) == organizational_domain(b)


async def evaluate_dmarc(
    resolver: Resolver,
    from_domains: Sequence[str],
    spf_result: str,
    spf_domain: str,
    dkim: Sequence[DkimResult],
    *,
    rng: Callable[[], float] = random.random,
) -> DmarcResult:
    """DMARC for a message whose RFC5322.From domains are ``from_domains``.

    RFC 7489 §6.6.1 choices:
    - no From domain (no From field, or no address in it): ``permerror``, disposition "none";
      RFC 5322 forbids such messages and §6.6.1 leaves them out of DMARC's scope, so the SMTP
      policy layer decides (it may reject them outright).
    - several different domains (one field with several authors, or several From fields):
      each domain is evaluated and "the most strict policy selected among the checks that
      fail" wins; when none fails, the weakest outcome is reported (a domain without a
      policy makes the whole message "none", not "pass").
    """
    domains = list(dict.fromkeys(d.lower().rstrip(".") for d in from_domains if d))
    if not domains:
        return DmarcResult(
            "permerror", "none", "", "", None, False, False, "", "none",
            "no RFC5322.From domain (RFC 7489 §6.6.1)",
        )  # fmt: skip
    results = [await _evaluate_one(resolver, d, spf_result, spf_domain, dkim, rng) for d in domains]
    if len(results) == 1:
        return results[0]
    chosen = max(results, key=_severity)
    return DmarcResult(
        chosen.result,
        chosen.policy,
        chosen.from_domain,
        chosen.org_domain,
        chosen.record,
        chosen.spf_aligned,
        chosen.dkim_aligned,
        chosen.aligned_dkim_domain,
        chosen.disposition,
        f"{len(results)} From domains, strictest: {chosen.reason}",
        tuple(results),
    )


_RESULT_RANK = {"pass": 0, "none": 1, "permerror": 2, "temperror": 3, "fail": 4}


def _severity(r: DmarcResult) -> tuple[int, int, int]:
    """Failing beats the rest; then the harsher disposition, then the harsher policy."""
    return (
        _RESULT_RANK.get(r.result, 2),
        _STRENGTH.get(r.disposition, 0),
        _STRENGTH.get(r.policy, 0),
    )


async def _evaluate_one(
    resolver: Resolver,
    author: str,
    spf_result: str,
    spf_domain: str,
    dkim: Sequence[DkimResult],
    rng: Callable[[], float],
) -> DmarcResult:
    org = organizational_domain(author)
    try:
        record = await discover_policy(resolver, author)
    except DnsTempError as exc:
        return DmarcResult(
            "temperror", "none", author, org, None, False, False, "", "none",
            f"policy lookup failed: {exc}",
        )  # fmt: skip
    if record is None:
        return DmarcResult(
            "none", "none", author, org, None, False, False, "", "none", "no DMARC record"
        )
    spf_ok = spf_result.lower() == "pass" and _aligned(spf_domain, author, record.aspf)
    aligned_dkim = next(
        (d.domain for d in dkim if d.result == "pass" and _aligned(d.domain, author, record.adkim)),
        "",
    )
    # §6.3 sp=: for subdomains, i.e. when the record was found at the Organizational Domain.
    policy = record.sp if record.domain != author else record.p
    if spf_ok or aligned_dkim:
        via = " and ".join(n for n, ok in (("SPF", spf_ok), ("DKIM", bool(aligned_dkim))) if ok)
        return DmarcResult(
            "pass", policy, author, org, record, spf_ok, bool(aligned_dkim), aligned_dkim,
            "none", f"aligned {via}",
        )  # fmt: skip
    disposition = policy
    sampled = record.pct >= 100 or rng() * 100 < record.pct
    if not sampled:
        disposition = _WEAKER[policy]
    reason = "no aligned SPF or DKIM pass"
    if not sampled:
        reason += f" (not sampled at pct={record.pct})"
    return DmarcResult("fail", policy, author, org, record, False, False, "", disposition, reason)


def from_domains_of(message: bytes) -> list[str]:
    """The domains of every address in every RFC5322.From field, lower case, in order.

    Parsed with the stdlib header parser (groups are flattened into their members); an
    address without a domain contributes nothing, so "From: undisclosed" gives [].
    """
    try:
        parsed = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(message)
        fields = parsed.get_all("From") or []
    except Exception:  # malformed input must never break evaluation
        return []
    domains: list[str] = []
    for value in fields:
        try:
            addresses = value.addresses
        except (AttributeError, IndexError, TypeError, ValueError):
            continue
        for address in addresses:
            domain = (address.domain or "").strip().rstrip(".").lower()
            if domain:
                domains.append(domain)
    return domains
