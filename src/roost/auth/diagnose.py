"""`roost diagnose`: run the real inbound checks on a received message and explain each step.

The envelope (client IP, HELO, MAIL FROM) is taken from the lines Roost itself added on
delivery: the topmost `Received:` that names Roost as the receiving host (RFC 5321 §4.4) and the
`Return-Path:`; options override them. The checks are the same modules the SMTP server uses
(SPF, DKIM, DMARC, ARC) on the configured resolver, so the answer is what Roost would decide
now, with today's DNS. Each step is a list of sentences in plain words with the RFC's term in
brackets, so that an administrator can follow why mail passed or failed.
"""

from __future__ import annotations

import email.parser
import email.policy
import ipaddress
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from roost.auth.arc import ArcResult, verify_arc
from roost.auth.authresults import authserv_id_of, split_results
from roost.auth.dkim_verify import DkimResult, verify_dkim
from roost.auth.dmarc import DmarcResult, evaluate_dmarc, from_domains_of
from roost.auth.orgdomain import organizational_domain
from roost.auth.spf import MAX_DNS_TERMS, SpfResult, check_helo, check_host
from roost.dns.resolver import Resolver

# "from HELO ([IP])" ... "by HOST (Roost)": the trace line smtp/received.py writes.
_ROOST_RECEIVED = re.compile(
    r"from\s+(?P<helo>\S+)\s+\(\[(?:IPv6:)?(?P<ip>[^\]]+)\]\).*?\bby\s+\S+\s+\(Roost\)",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class Envelope:
    """What the SMTP client said; ``None`` where neither the message nor an option tells."""

    ip: str | None
    helo: str | None
    mail_from: str | None  # "" is the null reverse-path
    source: str  # where these came from, in words


def _headers(message: bytes) -> Any:
    return email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(message)


def envelope_of(
    message: bytes, *, ip: str | None = None, helo: str | None = None, mail_from: str | None = None
) -> Envelope:
    """Client IP and HELO from Roost's own Received line, MAIL FROM from Return-Path."""
    headers = _headers(message)
    found_ip = found_helo = found_from = None
    sources = []
    for value in headers.get_all("Received") or []:
        match = _ROOST_RECEIVED.search(str(value))
        if match:
            found_ip, found_helo = match.group("ip"), match.group("helo")
            sources.append("Roost's Received line")
            break
    return_path = headers.get("Return-Path")
    if return_path is not None:
        found_from = str(return_path).strip().strip("<>").strip()
        sources.append("Return-Path")
    if ip is not None or helo is not None or mail_from is not None:
        sources.append("command-line options")
    return Envelope(
        ip if ip is not None else found_ip,
        helo if helo is not None else found_helo,
        mail_from if mail_from is not None else found_from,
        ", ".join(sources) or "nothing: the message has no Roost Received or Return-Path line",
    )


@dataclass
class Step:
    """One check: its name, the result word, and sentences explaining it."""

    check: str
    result: str
    lines: list[str] = field(default_factory=list)


@dataclass
class Diagnosis:
    envelope: Envelope
    steps: list[Step]
    dmarc: str  # the DMARC result word
    disposition: str

    @property
    def ok(self) -> bool:
        """Exit status 0: DMARC passed, or the From domain publishes no policy."""
        return self.dmarc in ("pass", "none")

    def as_dict(self) -> dict[str, Any]:
        return {
            "envelope": asdict(self.envelope),
            "steps": [asdict(s) for s in self.steps],
            "dmarc": self.dmarc,
            "disposition": self.disposition,
            "ok": self.ok,
        }


# --- SPF -----------------------------------------------------------------------------------------


def _spf_sentence(result: SpfResult, ip: str, identity: str) -> str:
    domain = result.domain
    if result.result == "none":
        why = result.problem or f"{domain} publishes no SPF record"
        return f"{identity} {domain}: {why}, so SPF says nothing [none]."
    if result.result in ("temperror", "permerror"):
        kind = "a DNS lookup failed" if result.result == "temperror" else "the record is broken"
        return f"{identity} {domain}: {kind}: {result.problem} [{result.result}]."
    if result.mechanism:
        how = f'the term "{result.mechanism}" matched {ip}'
    else:
        how = f"no mechanism matched {ip} and there is no redirect= (RFC 7208 §4.7)"
    verdict = {
        "pass": f"{ip} is allowed to send for {domain}",
        "fail": f"{domain} says {ip} must not send for it",
        "softfail": f"{domain} says {ip} is probably not allowed",
        "neutral": f"{domain} makes no statement about {ip}",
    }.get(result.result, result.result)
    text = f"{identity} {domain}: {how}; {verdict} [{result.result}]"
    if result.explanation:
        text += f'; the domain explains: "{result.explanation}"'
    return text + f". DNS-querying terms used: {result.lookups} of {MAX_DNS_TERMS}."


async def _spf(resolver: Resolver, env: Envelope, receiver: str) -> tuple[Step, str, str]:
    """The step, and the (result, domain) DMARC uses: MAIL FROM, or HELO for a null sender."""
    if not env.ip:
        step = Step("SPF", "none", ["The client IP is unknown (no Roost Received line; use --ip),"
                                    " so SPF cannot be checked [none]."])  # fmt: skip
        return step, "none", ""
    helo = env.helo or ""
    step = Step("SPF", "none", [f"Checking client {env.ip} (RFC 7208 check_host)."])
    helo_result = None
    if helo:
        helo_result = await check_helo(resolver, env.ip, helo, receiver)
    if env.mail_from is None:
        step.lines.append("The envelope sender is unknown (no Return-Path; use --mail-from).")
    elif env.mail_from == "":
        step.lines.append(
            "The envelope sender is empty (a bounce); SPF checks the HELO name instead "
            "[RFC5321.HELO, RFC 7208 §2.4]."
        )
    else:
        domain = env.mail_from.rpartition("@")[2]
        result = await check_host(resolver, env.ip, domain, env.mail_from, helo=helo,
                                  receiver=receiver)  # fmt: skip
        step.result = result.result
        step.lines.append(_spf_sentence(result, env.ip, "Envelope sender domain [MAIL FROM]"))
        if helo_result is not None:
            step.lines.append(_spf_sentence(helo_result, env.ip, "HELO name [HELO]"))
        return step, result.result, result.domain
    if helo_result is None:
        step.lines.append("No HELO name is known either, so SPF cannot be checked [none].")
        return step, "none", ""
    step.result = helo_result.result
    step.lines.append(_spf_sentence(helo_result, env.ip, "HELO name [HELO]"))
    return step, helo_result.result, helo_result.domain


# --- DKIM ----------------------------------------------------------------------------------------


def _dkim_sentence(i: int, r: DkimResult) -> str:
    head = f"Signature {i}: signing domain d={r.domain or '?'}, selector s={r.selector or '?'}, "
    head += f"algorithm a={r.algorithm or '?'}"
    key = f"{r.selector}._domainkey.{r.domain}"
    if r.result == "pass":
        return (f"{head}: the body matches its hash [bh=], the key at {key} was found and the "
                "signature verifies [pass].")  # fmt: skip
    if r.problem == "body hash mismatch":
        return (f"{head}: the body was changed after signing: it does not match the signed "
                "body hash [bh=] [fail].")  # fmt: skip
    if r.problem == "signature did not verify":
        return (f"{head}: the key at {key} was found, but the signed header fields were changed "
                "or the key does not match [fail].")  # fmt: skip
    if r.problem == "key not found":
        return f"{head}: no public key is published at {key} [{r.result}]."
    return f"{head}: {r.problem or 'does not verify'} [{r.result}]."


def _dkim(results: list[DkimResult]) -> Step:
    if not results:
        return Step("DKIM", "none", ["The message has no DKIM-Signature field [none]."])
    word = "pass" if any(r.result == "pass" for r in results) else results[0].result
    step = Step("DKIM", word, [f"{len(results)} signature(s) (RFC 6376 §6)."])
    step.lines += [_dkim_sentence(i, r) for i, r in enumerate(results, 1)]
    return step


# --- DMARC ---------------------------------------------------------------------------------------


def _mode(flag: str, tag: str) -> str:
    return f"strict [{tag}=s]" if flag == "s" else f"relaxed [{tag}=r]"


def _aligned(identifier: str, author: str, mode: str) -> bool:
    a, b = identifier.lower().rstrip("."), author.lower().rstrip(".")
    if not a or not b:
        return False
    return a == b if mode == "s" else organizational_domain(a) == organizational_domain(b)


def _dmarc(result: DmarcResult, spf_result: str, spf_domain: str, dkim: list[DkimResult]) -> Step:
    step = Step("DMARC", result.result)
    lines = step.lines
    if not result.from_domain:
        lines.append(f"{result.reason} [permerror]; Roost's policy decides what to do.")
        return step
    if len(result.per_domain) > 1:
        lines.append(f"The From field names several domains; {result.reason}.")
    author = result.from_domain
    lines.append(f"Author domain [RFC5322.From]: {author}; its organisational domain "
                 f"[Organizational Domain, RFC 7489 §3.2]: {result.org_domain}.")  # fmt: skip
    record = result.record
    if record is None:
        lines.append(f"{result.reason}: no DMARC policy applies to {author} [{result.result}].")
        return step
    where = "the author domain" if record.domain == author else "the organisational domain"
    lines.append(
        f"Policy found at _dmarc.{record.domain} ({where}): p={record.p} sp={record.sp} "
        f"pct={record.pct} adkim={record.adkim} aspf={record.aspf}; the policy for this "
        f"domain is {result.policy}."
    )
    spf_mode = _mode(record.aspf, "aspf")
    if spf_result == "pass":
        ok = _aligned(spf_domain, author, record.aspf)
        lines.append(f"SPF passed for {spf_domain}; compared with {author}, {spf_mode}: "
                     f"{'aligned' if ok else 'not aligned'} [SPF alignment].")  # fmt: skip
    else:
        lines.append(f"SPF did not pass ({spf_result}), so it cannot align [SPF alignment].")
    dkim_mode = _mode(record.adkim, "adkim")
    passes = [d for d in dkim if d.result == "pass"]
    for d in passes:
        ok = _aligned(d.domain, author, record.adkim)
        lines.append(f"DKIM passed for d={d.domain}; compared with {author}, {dkim_mode}: "
                     f"{'aligned' if ok else 'not aligned'} [DKIM alignment].")  # fmt: skip
    if not passes:
        lines.append("No DKIM signature passed, so DKIM cannot align [DKIM alignment].")
    if result.result == "pass":
        lines.append(
            f"An authenticated identifier is aligned: DMARC passes [pass] ({result.reason})."
        )
    else:
        lines.append(
            f"Outcome [{result.result}]: {result.reason}; what the domain asks for this message "
            f"[disposition]: {result.disposition}."
        )
    return step


# --- ARC and existing Authentication-Results ---------------------------------------------------


def _arc(result: ArcResult) -> Step:
    if result.result == "none" and result.instances == 0:
        return Step("ARC", "none", ["No ARC sets: the message was not sealed by a forwarder."])
    step = Step("ARC", result.result, [f"{result.instances} ARC set(s) [instances]."])
    if result.result == "pass":
        step.lines.append("Every seal and the newest message signature verify: the chain is "
                          "intact [cv=pass] (RFC 8617 §5.2).")  # fmt: skip
        if result.oldest_pass:
            step.lines.append(f"Message signatures verify back to set {result.oldest_pass} "
                              "[oldest-pass].")  # fmt: skip
    else:
        step.lines.append(f"The chain does not validate: {result.problem} [{result.result}].")
    return step


def _earlier_results(message: bytes) -> Step:
    headers = _headers(message)
    fields = headers.get_all("Authentication-Results") or []
    step = Step("Authentication-Results", "none" if not fields else "present")
    if not fields:
        step.lines.append("No Authentication-Results field from an earlier hop or delivery.")
    for value in fields:
        raw = str(value).encode("utf-8", "replace")
        parts = split_results(raw)
        said = "; ".join(parts[1:]) or "no results"
        step.lines.append(f"{authserv_id_of(raw) or '?'} said: {said} [authserv-id, RFC 8601].")
    return step


# --- the whole run -------------------------------------------------------------------------------


async def diagnose(
    message: bytes,
    resolver: Resolver,
    *,
    receiver: str = "",
    ip: str | None = None,
    helo: str | None = None,
    mail_from: str | None = None,
) -> Diagnosis:
    """Run SPF, DKIM, DMARC and ARC on ``message`` and explain each, in that order.

    DMARC's pct= sampling is not drawn: a failing message gets the full policy, the answer
    for a message that was sampled. ``ValueError`` when the client IP is not an IP address.
    """
    env = envelope_of(message, ip=ip, helo=helo, mail_from=mail_from)
    if env.ip:
        ipaddress.ip_address(env.ip)  # ValueError for a malformed --ip
    spf_step, spf_result, spf_domain = await _spf(resolver, env, receiver)
    dkim = await verify_dkim(message, resolver)
    dmarc = await evaluate_dmarc(
        resolver, from_domains_of(message), spf_result, spf_domain, dkim, rng=lambda: 0.0
    )
    arc = await verify_arc(message, resolver)
    steps = [
        Step("Envelope", "known" if env.ip else "partial", [_envelope_sentence(env)]),
        spf_step,
        _dkim(dkim),
        _dmarc(dmarc, spf_result, spf_domain, dkim),
        _arc(arc),
        _earlier_results(message),
    ]
    return Diagnosis(env, steps, dmarc.result, dmarc.disposition)


def _envelope_sentence(env: Envelope) -> str:
    sender = "unknown" if env.mail_from is None else f"<{env.mail_from}>"
    return (f"Client IP {env.ip or 'unknown'}, HELO {env.helo or 'unknown'}, envelope sender "
            f"[RFC5321.MailFrom] {sender}; taken from {env.source}.")  # fmt: skip


def render_text(diagnosis: Diagnosis) -> str:
    """The human form: one heading per check with its result, then its sentences."""
    out = []
    for step in diagnosis.steps:
        out.append(f"{step.check}: {step.result}")
        out += [f"  {line}" for line in step.lines]
    verdict = "passes" if diagnosis.dmarc == "pass" else f"is {diagnosis.dmarc}"
    out.append(f"Verdict: DMARC {verdict}; disposition {diagnosis.disposition}.")
    return "\n".join(out) + "\n"
