"""Roost's one DNS resolver: dnspython's async stub resolver plus Roost's own cache.

Why a wrapper rather than dnspython directly:

* one place turns ``[dns] nameservers = ["host:port"]`` into resolver settings, with the port
  honoured per nameserver (tests and split-horizon setups run DNS on odd ports);
* callers get plain typed values and only two kinds of failure (:mod:`roost.dns.errors`):
  NXDOMAIN / NODATA are results, SERVFAIL / timeouts are :class:`DnsTempError`;
* the cache is ours so its clock can be injected (tests expire entries without sleeping), TTLs
  are capped, and negative answers are cached per RFC 2308 from the SOA in the response.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import dns.asyncresolver
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.nameserver
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.resolver
import dns.reversename
import dns.rrset

from roost.config.model import DnsConfig
from roost.dns.errors import DnsError, DnsNameError, DnsTempError

Clock = Callable[[], float]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_TTL = 86400  # a day: a record cached longer outlives any reasonable DNS change
MAX_NEGATIVE_TTL = 3 * 3600  # RFC 2308 §5 suggests 1 to 3 hours for negative answers
EDNS_PAYLOAD = 1232  # DNS flag day 2020: avoids IP fragmentation; larger answers go TCP


@dataclass(frozen=True, slots=True)
class Answer:
    """A generic answer: records as presentation text, plus what callers decide on.

    ``ttl`` is the seconds left before this answer goes stale (it shrinks on cache hits).
    ``authentic`` is the AD bit: only meaningful behind a validating resolver on a trusted
    path, kept for DANE/DNSSEC decisions later.
    """

    name: str
    rdtype: str
    records: tuple[str, ...]
    ttl: int
    nxdomain: bool
    authentic: bool
    canonical_name: str
    rdata: tuple[dns.rdata.Rdata, ...] = field(default=(), repr=False, compare=False)

    @property
    def nodata(self) -> bool:
        """The name exists but has no records of this type (RFC 2308 §2.2)."""
        return not self.nxdomain and not self.records


@dataclass(frozen=True, slots=True)
class _Result:
    """Fields every typed result shares, so callers can tell NXDOMAIN from NODATA."""

    nxdomain: bool
    ttl: int
    authentic: bool


@dataclass(frozen=True, slots=True, order=True)
class MxRecord:
    preference: int
    host: str  # lower case, no trailing dot; "." is the root (a null MX)


@dataclass(frozen=True, slots=True)
class MxResult(_Result):
    records: tuple[MxRecord, ...]  # sorted by preference, then host

    @property
    def is_null_mx(self) -> bool:
        """RFC 7505: a single MX whose exchange is the root means "accepts no mail"."""
        return len(self.records) == 1 and self.records[0].host == "."


@dataclass(frozen=True, slots=True)
class AddressResult(_Result):
    addresses: tuple[IPAddress, ...]


@dataclass(frozen=True, slots=True)
class TxtResult(_Result):
    """Each TXT record with its character-strings concatenated (RFC 7208 §3.3).

    Bytes, because TXT is binary; SPF, DKIM and DMARC each decide how to treat non-ASCII.
    """

    records: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class PtrResult(_Result):
    names: tuple[str, ...]  # lower case, no trailing dot


@dataclass(slots=True)
class _Entry:
    expires: float
    answer: Answer


def parse_nameserver(value: str) -> dns.nameserver.Do53Nameserver:
    """``"1.2.3.4:53"`` or ``"[::1]:5353"`` -> a nameserver with its own port.

    The nameserver must be an IP address: resolving its name would need a resolver.
    """
    host, _, port = value.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        address = ipaddress.ip_address(host)
    except ValueError as exc:
        raise ValueError(f"DNS nameserver {value!r} must be an IP address and port") from exc
    return dns.nameserver.Do53Nameserver(str(address), int(port))


def _short(name: dns.name.Name) -> str:
    """Presentation form callers compare against: lower case, no trailing dot (root: ".")."""
    text = name.to_text().lower()
    return text if text == "." else text.rstrip(".")


def _to_name(name: str) -> dns.name.Name:
    try:
        return dns.name.from_text(name)
    except dns.exception.DNSException as exc:
        raise DnsNameError(f"{name!r} is not a valid DNS name: {exc}") from exc


def _to_rdtype(rdtype: str | dns.rdatatype.RdataType) -> dns.rdatatype.RdataType:
    try:
        return dns.rdatatype.RdataType.make(rdtype)
    except dns.exception.DNSException as exc:
        raise DnsNameError(f"unknown DNS record type {rdtype!r}") from exc


def _negative_ttl(response: dns.message.Message, qname: dns.name.Name) -> int:
    """RFC 2308 §5: min(SOA TTL, SOA minimum) from an SOA above the name; 0 without one."""
    for rrset in response.authority:
        if rrset.rdtype == dns.rdatatype.SOA and qname.is_subdomain(rrset.name) and rrset:
            return min(int(rrset.ttl), int(rrset[0].minimum))  # type: ignore[attr-defined]
    return 0


class Resolver:
    """Async DNS lookups with a TTL-respecting cache shared by all of Roost.

    Build one per process with :meth:`from_config`. Not safe across event loops at the same
    time, but one instance may serve any number of concurrent tasks on one loop.
    """

    def __init__(
        self,
        nameservers: Sequence[str] = (),
        *,
        timeout: float = 5.0,
        now: Clock = time.monotonic,
        max_ttl: int = MAX_TTL,
        max_negative_ttl: int = MAX_NEGATIVE_TTL,
        cache_size: int = 10_000,
    ) -> None:
        self._dns = self._make_resolver(nameservers, timeout)
        self._timeout = timeout
        self._now = now
        self._max_ttl = max_ttl
        self._max_negative_ttl = max_negative_ttl
        self._cache_size = cache_size
        self._cache: dict[tuple[dns.name.Name, dns.rdatatype.RdataType], _Entry] = {}

    @classmethod
    def from_config(cls, cfg: DnsConfig, *, now: Clock = time.monotonic) -> Resolver:
        """The resolver ``[dns]`` describes; empty ``nameservers`` means /etc/resolv.conf."""
        return cls(cfg.nameservers, timeout=cfg.timeout, now=now)

    @staticmethod
    def _make_resolver(nameservers: Sequence[str], timeout: float) -> dns.asyncresolver.Resolver:
        """dnspython resolver with no cache of its own, no search list, EDNS and AD requested."""
        servers = [parse_nameserver(ns) for ns in nameservers]
        try:
            resolver = dns.asyncresolver.Resolver(configure=not servers)
        except dns.exception.DNSException as exc:
            raise DnsError(f"no system DNS configuration: {exc}") from exc
        if servers:
            resolver.nameservers = servers
        resolver.timeout = timeout
        resolver.lifetime = timeout
        resolver.cache = None
        resolver.retry_servfail = False
        resolver.use_edns(0, 0, EDNS_PAYLOAD)
        # RFC 6840 §5.7: ask for the AD bit so "authentic" means something behind a validator.
        resolver.flags = dns.flags.RD | dns.flags.AD
        return resolver

    # -- typed lookups --------------------------------------------------------------------------

    async def mx(self, domain: str) -> MxResult:
        answer = await self.query(domain, "MX")
        records = sorted(
            MxRecord(int(rd.preference), _short(rd.exchange))  # type: ignore[attr-defined]
            for rd in answer.rdata
        )
        return MxResult(*_meta(answer), records=tuple(records))

    async def a(self, name: str) -> AddressResult:
        return await self._addresses(name, "A")

    async def aaaa(self, name: str) -> AddressResult:
        return await self._addresses(name, "AAAA")

    async def _addresses(self, name: str, rdtype: str) -> AddressResult:
        answer = await self.query(name, rdtype)
        addresses = tuple(ipaddress.ip_address(rd.address) for rd in answer.rdata)  # type: ignore[attr-defined]
        return AddressResult(*_meta(answer), addresses=addresses)

    async def txt(self, name: str) -> TxtResult:
        answer = await self.query(name, "TXT")
        records = tuple(b"".join(rd.strings) for rd in answer.rdata)  # type: ignore[attr-defined]
        return TxtResult(*_meta(answer), records=records)

    async def ptr(self, ip: str | IPAddress) -> PtrResult:
        """Reverse lookup (in-addr.arpa / ip6.arpa) of an address."""
        try:
            name = dns.reversename.from_address(str(ip))
        except (ValueError, dns.exception.DNSException) as exc:
            raise DnsNameError(f"{ip!r} is not an IP address") from exc
        answer = await self.query(name.to_text(), "PTR")
        names = tuple(_short(rd.target) for rd in answer.rdata)  # type: ignore[attr-defined]
        return PtrResult(*_meta(answer), names=names)

    # -- generic query and cache --------------------------------------------------------------

    async def query(self, name: str, rdtype: str | dns.rdatatype.RdataType) -> Answer:
        """One lookup, from the cache when fresh; NXDOMAIN / NODATA are answers, not errors."""
        qname, qtype = _to_name(name), _to_rdtype(rdtype)
        cached = self._cached(qname, qtype)
        if cached is not None:
            return cached
        answer = await self._lookup(qname, qtype)
        self._store(qname, qtype, answer)
        return answer

    def _cached(self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType) -> Answer | None:
        entry = self._cache.get((qname, qtype))
        if entry is None:
            return None
        left = entry.expires - self._now()
        if left <= 0:
            del self._cache[(qname, qtype)]
            return None
        return replace(entry.answer, ttl=int(left))

    def _store(self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType, answer: Answer) -> None:
        """Keep the answer for its TTL; when full, drop expired entries, then the oldest."""
        if answer.ttl <= 0 or self._cache_size <= 0:
            return
        if len(self._cache) >= self._cache_size:
            self._evict()
        self._cache[(qname, qtype)] = _Entry(self._now() + answer.ttl, answer)

    def _evict(self) -> None:
        now = self._now()
        for key in [k for k, e in self._cache.items() if e.expires <= now]:
            del self._cache[key]
        while len(self._cache) >= self._cache_size:
            del self._cache[next(iter(self._cache))]

    def clear_cache(self) -> None:
        self._cache.clear()

    async def _lookup(self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType) -> Answer:
        """Ask the nameservers; map dnspython's exceptions onto results and DnsTempError."""
        try:
            result = await self._dns.resolve(
                qname, qtype, raise_on_no_answer=False, search=False, lifetime=self._timeout
            )
        except dns.resolver.NXDOMAIN as exc:
            return self._nxdomain(qname, qtype, exc)
        except dns.exception.Timeout as exc:
            raise DnsTempError(f"{_short(qname)} {qtype.name}: timed out") from exc
        except dns.resolver.NoNameservers as exc:
            raise DnsTempError(f"{_short(qname)} {qtype.name}: no server answered: {exc}") from exc
        except (dns.exception.DNSException, OSError) as exc:
            raise DnsTempError(f"{_short(qname)} {qtype.name}: {exc}") from exc
        return self._positive(qname, qtype, result)

    def _positive(
        self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType, result: dns.resolver.Answer
    ) -> Answer:
        """An answer with records, or NODATA (then the TTL comes from the SOA, RFC 2308)."""
        rrset: dns.rrset.RRset | None = result.rrset
        rdata = tuple(rrset) if rrset is not None else ()
        canonical = result.canonical_name
        if rdata:
            ttl = min(int(result.chaining_result.minimum_ttl), self._max_ttl)
        else:
            ttl = min(_negative_ttl(result.response, canonical), self._max_negative_ttl)
        return Answer(
            name=_short(qname),
            rdtype=qtype.name,
            records=tuple(rd.to_text() for rd in rdata),
            ttl=max(ttl, 0),
            nxdomain=False,
            authentic=bool(result.response.flags & dns.flags.AD),
            canonical_name=_short(canonical),
            rdata=rdata,
        )

    def _nxdomain(
        self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType, exc: dns.resolver.NXDOMAIN
    ) -> Answer:
        responses: dict[dns.name.Name, dns.message.Message] = exc.kwargs.get("responses", {})
        response = responses.get(qname)
        canonical = qname
        ttl = 0
        if response is not None:
            canonical = exc.canonical_name
            ttl = min(_negative_ttl(response, canonical), self._max_negative_ttl)
        return Answer(
            name=_short(qname),
            rdtype=qtype.name,
            records=(),
            ttl=max(ttl, 0),
            nxdomain=True,
            authentic=bool(response is not None and response.flags & dns.flags.AD),
            canonical_name=_short(canonical),
        )


def _meta(answer: Answer) -> tuple[bool, int, bool]:
    """The shared :class:`_Result` fields of a typed result, in field order."""
    return answer.nxdomain, answer.ttl, answer.authentic
