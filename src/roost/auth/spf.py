"""SPF evaluation (RFC 7208): check_host() on Roost's own async resolver.

Why not pyspf: it blocks the event loop, and every DNS lookup must go through
:class:`roost.dns.Resolver` (one cache, test servers, ``[dns]`` settings). Parsing lives in
:mod:`roost.auth.spf_record`, macros in :mod:`roost.auth.spf_macro`; this module walks the
records, counts lookups and turns DNS outcomes into SPF results.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from dataclasses import dataclass, replace

from roost.auth.spf_macro import (
    EXP_LETTERS,
    IPAddress,
    MacroContext,
    MacroError,
    MacroString,
    expand,
    expand_domain,
    parse_macro_string,
)
from roost.auth.spf_record import Mechanism, Record, SpfSyntaxError, is_spf_record, parse_record
from roost.dns.errors import DnsError, DnsNameError
from roost.dns.resolver import Resolver

MAX_DNS_TERMS = 10  # §4.6.4: include a mx ptr exists redirect, over the whole evaluation
MAX_VOID_LOOKUPS = 2  # §4.6.4: NXDOMAIN / NODATA answers to those terms
MAX_MX_NAMES = 10  # §4.6.4: more MX records than this is a permerror
MAX_PTR_NAMES = 10  # §4.6.4: PTR names beyond this are ignored
TIME_LIMIT = 20.0  # §4.6.4: a limit on elapsed time SHOULD allow at least 20 seconds

_BAD_NAME_CHARS = re.compile(r"[\x00-\x20\x7f\[\]@\\]")


@dataclass(frozen=True, slots=True)
class SpfResult:
    """The outcome of one check_host() (RFC 7208 §2.6 results)."""

    result: str  # "pass" "fail" "softfail" "neutral" "none" "temperror" "permerror"
    domain: str  # the domain whose policy was checked (MAIL FROM domain or HELO)
    explanation: str = ""  # the exp= text for fail (§6.2), else ""
    mechanism: str = ""  # the term that matched, e.g. "ip4:192.0.2.0/24" or "-all"
    lookups: int = 0  # DNS-querying terms used (§4.6.4)
    problem: str = ""  # for temperror/permerror: what went wrong, in words


class _PermError(Exception):
    pass


class _TempError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class _Outcome:
    """A record's verdict, with what its exp= needs (the record that decided, §6.2)."""

    result: str
    mechanism: str
    explanation: MacroString | None
    ctx: MacroContext


def client_address(ip: str | IPAddress) -> IPAddress:
    """The address SPF compares: an IPv4-mapped IPv6 address is IPv4 (§5, RFC 4291 §2.5.5.2)."""
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def valid_domain(name: str, *, multi_label: bool = True) -> bool:
    """§4.3: a name check_host() can evaluate; anything else is result "none".

    Empty labels, labels over 63 octets, names over 253, single labels (for the initial
    domain) and domain literals / spaces / "@" are all malformed.
    """
    name = name[:-1] if name.endswith(".") else name
    if not name or len(name) > 253 or _BAD_NAME_CHARS.search(name):
        return False
    labels = name.split(".")
    if multi_label and len(labels) < 2:
        return False
    return all(0 < len(label.encode("utf-8", "replace")) <= 63 for label in labels)


async def check_host(
    resolver: Resolver,
    ip: str,
    domain: str,
    sender: str,
    *,
    helo: str = "",
    receiver: str = "",
    time_limit: float = TIME_LIMIT,
    max_void_lookups: int = MAX_VOID_LOOKUPS,
) -> SpfResult:
    """RFC 7208 §4 check_host(): is ``ip`` allowed to send for ``domain``?

    ``sender`` is the MAIL FROM (or ``postmaster@`` + HELO) address the macros see. Raises
    ``ValueError`` only when ``ip`` is not an IP address.
    """
    address = client_address(ip)
    if not valid_domain(domain):
        return SpfResult("none", domain)
    evaluation = _Evaluation(resolver, address, max_void_lookups)
    ctx = MacroContext(
        sender=sender,
        domain=domain,
        ip=address,
        helo=helo,
        receiver=receiver,
        validated_name=evaluation.validated_name,
    )
    try:
        async with asyncio.timeout(time_limit):
            outcome = await evaluation.check(domain, ctx)
            if outcome is None:
                return SpfResult("none", domain, lookups=evaluation.lookups)
            explanation = ""
            if outcome.result == "fail":
                explanation = await evaluation.explain(outcome)
    except _PermError as exc:
        return SpfResult("permerror", domain, lookups=evaluation.lookups, problem=str(exc))
    except _TempError as exc:
        return SpfResult("temperror", domain, lookups=evaluation.lookups, problem=str(exc))
    except TimeoutError:
        problem = f"evaluation took longer than {time_limit:g} s (§4.6.4)"
        return SpfResult("temperror", domain, lookups=evaluation.lookups, problem=problem)
    return SpfResult(
        outcome.result,
        domain,
        explanation=explanation,
        mechanism=outcome.mechanism,
        lookups=evaluation.lookups,
    )


async def check_mail_from(
    resolver: Resolver, ip: str, mail_from: str, helo: str, receiver: str
) -> SpfResult:
    """§2.4: the MAIL FROM identity; the null reverse-path is checked as postmaster@HELO."""
    if mail_from in ("", "<>"):
        return await check_helo(resolver, ip, helo, receiver)
    domain = mail_from.rpartition("@")[2]
    return await check_host(resolver, ip, domain, mail_from, helo=helo, receiver=receiver)


async def check_helo(resolver: Resolver, ip: str, helo: str, receiver: str) -> SpfResult:
    """§2.3: the HELO identity, with sender postmaster@HELO (an address literal gives none)."""
    sender = f"postmaster@{helo}"
    return await check_host(resolver, ip, helo, sender, helo=helo, receiver=receiver)


class _Evaluation:
    """State of one check_host(): the client, the lookup counters and the resolver."""

    def __init__(self, resolver: Resolver, ip: IPAddress, max_void_lookups: int) -> None:
        self.resolver = resolver
        self.ip = ip
        self.lookups = 0
        self.voids = 0
        self.max_void_lookups = max_void_lookups

    # -- records ----------------------------------------------------------------------------

    async def check(self, domain: str, ctx: MacroContext) -> _Outcome | None:
        """Evaluate ``domain``'s record; ``None`` when it has none (result "none")."""
        record = await self._record(domain)
        if record is None:
            return None
        return await self._evaluate(record, replace(ctx, domain=domain))

    async def _record(self, domain: str) -> Record | None:
        """§4.5: the one TXT record starting "v=spf1"; SPF-type (99) records are not asked."""
        if not valid_domain(domain, multi_label=False):
            return None
        try:
            txt = await self.resolver.txt(domain)
        except DnsNameError:
            return None
        except DnsError as exc:
            raise _TempError(f"TXT lookup for {domain} failed: {exc}") from None
        records = [raw for raw in txt.records if is_spf_record(raw)]
        if not records:
            return None
        if len(records) > 1:
            raise _PermError(f"{domain} publishes {len(records)} SPF records (§4.5)")
        try:
            return parse_record(records[0])
        except SpfSyntaxError as exc:
            raise _PermError(f"{domain}: {exc}") from None

    async def _evaluate(self, record: Record, ctx: MacroContext) -> _Outcome:
        """§4.6.2: the first matching mechanism decides; then redirect (§6.1); else neutral."""
        for mechanism in record.mechanisms:
            if await self._matches(mechanism, ctx):
                return _Outcome(mechanism.result, mechanism.text, record.explanation, ctx)
        if record.redirect is not None:  # never reached with "all", as §6.1 requires
            self._count("redirect")
            target = await expand_domain(record.redirect, ctx)
            outcome = await self.check(target, ctx)
            if outcome is None:
                raise _PermError(f"redirect={target} has no SPF record (§6.1)")
            return outcome  # its own exp=, not ours (§6.2)
        return _Outcome("neutral", "", None, ctx)  # §4.7

    # -- mechanisms -------------------------------------------------------------------------

    async def _matches(self, mechanism: Mechanism, ctx: MacroContext) -> bool:
        kind = mechanism.kind
        if kind == "all":
            return True
        if kind in ("ip4", "ip6"):
            network = mechanism.network
            if network is None or network.version != self.ip.version:
                return False  # §5.6: ip4 never matches an IPv6 client, nor ip6 an IPv4 one
            return self.ip in network
        self._count(mechanism.text)
        target = ctx.domain
        if mechanism.domain is not None:
            target = await expand_domain(mechanism.domain, ctx)
        if kind == "include":
            return await self._include(target, ctx)
        if kind == "a":
            addresses = await self._addresses(target, void=True)
            return self._in_any(addresses, mechanism)
        if kind == "mx":
            return await self._mx(target, mechanism)
        if kind == "ptr":
            return await self._ptr(target)
        # exists (§5.7): an A query whatever the client's address family
        return bool(await self._addresses(target, void=True, family=4))

    async def _include(self, target: str, ctx: MacroContext) -> bool:
        """§5.2: pass matches; fail/softfail/neutral do not; none is a permerror."""
        outcome = await self.check(target, ctx)
        if outcome is None:
            raise _PermError(f"include:{target} has no SPF record (§5.2)")
        return outcome.result == "pass"

    async def _mx(self, target: str, mechanism: Mechanism) -> bool:
        """§5.4: addresses of every MX host; more than 10 MX names is a permerror (§4.6.4)."""
        try:
            answer = await self.resolver.mx(target)
        except DnsNameError:
            return False
        except DnsError as exc:
            raise _TempError(f"MX lookup for {target} failed: {exc}") from None
        if not answer.records:
            self._void(f"MX {target}")
            return False
        if len(answer.records) > MAX_MX_NAMES:
            raise _PermError(f"{target} has more than {MAX_MX_NAMES} MX records (§4.6.4)")
        for record in answer.records:
            if record.host == ".":  # RFC 7505 null MX: no host to look up
                continue
            if self._in_any(await self._addresses(record.host), mechanism):
                return True
        return False

    async def _ptr(self, target: str) -> bool:
        """§5.5: a validated reverse name equal to or under ``target``; DNS errors: no match."""
        target = target.lower()
        for name in await self._reverse_names():
            under = name == target or name.endswith("." + target)
            if under and await self._validates(name):  # only names that could match
                return True
        return False

    async def _reverse_names(self) -> tuple[str, ...]:
        try:
            answer = await self.resolver.ptr(self.ip)
        except DnsError:
            return ()
        if not answer.names:
            self._void(f"PTR {self.ip}")
        return answer.names[:MAX_PTR_NAMES]

    async def _validates(self, name: str) -> bool:
        """§5.5: forward lookup of the reverse name gives back the client; errors skip it."""
        try:
            return self.ip in await self._addresses(name)
        except _TempError:
            return False

    async def validated_name(self, domain: str) -> str:
        """§7.3 ``%{p}``: the domain itself, else a subdomain, else any validated name."""
        try:
            answer = await self.resolver.ptr(self.ip)
        except DnsError:
            return "unknown"
        validated = [n for n in answer.names[:MAX_PTR_NAMES] if await self._validates(n)]
        domain = domain.lower().rstrip(".")
        for wanted in (
            lambda n: n == domain,
            lambda n: n.endswith("." + domain),
            lambda n: True,
        ):
            for name in validated:
                if wanted(name):
                    return name
        return "unknown"

    # -- helpers ----------------------------------------------------------------------------

    async def _addresses(
        self, name: str, *, void: bool = False, family: int | None = None
    ) -> tuple[IPAddress, ...]:
        """A or AAAA records of ``name`` (the client's family unless given); bad name: none."""
        family = family or self.ip.version
        try:
            lookup = self.resolver.a if family == 4 else self.resolver.aaaa
            answer = await lookup(name)
        except DnsNameError:
            return ()  # not a name DNS can carry: treated as non-existent (§4.8, §5)
        except DnsError as exc:
            raise _TempError(f"{'A' if family == 4 else 'AAAA'} lookup for {name}: {exc}") from None
        if void and not answer.addresses:
            self._void(f"{'A' if family == 4 else 'AAAA'} {name}")
        return answer.addresses

    def _in_any(self, addresses: tuple[IPAddress, ...], mechanism: Mechanism) -> bool:
        """Dual CIDR (§5.6): the IPv4 length for A records, the IPv6 length for AAAA."""
        prefix = mechanism.cidr4 if self.ip.version == 4 else mechanism.cidr6
        for address in addresses:
            if address.version == self.ip.version:
                network = ipaddress.ip_network((address, prefix), strict=False)
                if self.ip in network:
                    return True
        return False

    def _count(self, term: str) -> None:
        self.lookups += 1
        if self.lookups > MAX_DNS_TERMS:
            raise _PermError(f"more than {MAX_DNS_TERMS} DNS-querying terms, at {term} (§4.6.4)")

    def _void(self, what: str) -> None:
        self.voids += 1
        if self.voids > self.max_void_lookups:
            raise _PermError(
                f"more than {self.max_void_lookups} void lookups, the last {what} (§4.6.4)"
            )

    # -- explanation ------------------------------------------------------------------------

    async def explain(self, outcome: _Outcome) -> str:
        """§6.2: the exp= TXT, macro-expanded; any problem means no explanation at all."""
        if outcome.explanation is None:
            return ""
        try:
            name = await expand_domain(outcome.explanation, outcome.ctx)
            answer = await self.resolver.txt(name)
        except DnsError:
            return ""
        if len(answer.records) != 1:
            return ""
        try:
            text = answer.records[0].decode("ascii")
            macros = parse_macro_string(text, letters=EXP_LETTERS, spaces=True)
        except (UnicodeError, MacroError):
            return ""
        return await expand(macros, outcome.ctx)
