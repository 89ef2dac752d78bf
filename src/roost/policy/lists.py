"""Local allow and block lists: addresses, networks, domains and sender addresses.

An operator's own lists decide before anything asked over the network: an allow entry wins over
a block entry and over every DNS block list. Matching is pure and costs one set lookup per
distinct prefix length (networks) or per label (domains), so it runs on every connection.

Entry forms, one per string:

* ``192.0.2.7``, ``2001:db8::1``: one address; ``192.0.2.0/24``, ``2001:db8::/32``: a network;
* ``example.com``: that domain exactly; ``.example.com``: any subdomain of it (not the domain
  itself, as in Postfix; list both for both);
* ``user@example.com``: that sender address (case-insensitive).

Domains are compared with the sender's domain and with the client's verified host names.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _fold(text: str) -> str:
    return text.strip().rstrip(".").lower()


class AddressSet:
    """Addresses and networks of both families; `match` returns the matching entry's text."""

    def __init__(self, entries: Iterable[str | IPNetwork] = ()) -> None:
        # (version, prefix length) -> {network address as int: entry text}
        self._nets: dict[tuple[int, int], dict[int, str]] = {}
        for entry in entries:
            self.add(entry)

    def add(self, entry: str | IPNetwork) -> None:
        """ValueError for text that is neither an address nor a network."""
        net = ipaddress.ip_network(entry, strict=False) if isinstance(entry, str) else entry
        key = (net.version, net.prefixlen)
        self._nets.setdefault(key, {})[int(net.network_address)] = str(net)
        # Longest prefixes first, so `match` names the most specific entry.
        self._nets = dict(sorted(self._nets.items(), key=lambda kv: -kv[0][1]))

    def match(self, ip: str | IPAddress) -> str | None:
        address = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        value, bits = int(address), address.max_prefixlen
        for (version, prefix), nets in self._nets.items():
            if version != address.version:
                continue
            hit = nets.get(value >> (bits - prefix) << (bits - prefix))
            if hit is not None:
                return hit
        return None

    def __bool__(self) -> bool:
        return bool(self._nets)


class DomainSet:
    """Exact domains and ``.suffix`` entries; `match` returns the matching entry's text."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self._exact: set[str] = set()
        self._suffix: set[str] = set()
        for entry in entries:
            self.add(entry)

    def add(self, entry: str) -> None:
        name = _fold(entry)
        if name.startswith("."):
            if name.strip("."):
                self._suffix.add(name.lstrip("."))
        elif name:
            self._exact.add(name)

    def match(self, domain: str) -> str | None:
        name = _fold(domain)
        if not name:
            return None
        if name in self._exact:
            return name
        labels = name.split(".")
        for i in range(1, len(labels)):
            parent = ".".join(labels[i:])
            if parent in self._suffix:
                return "." + parent
        return None

    def __bool__(self) -> bool:
        return bool(self._exact or self._suffix)


@dataclass(frozen=True, slots=True)
class ListDecision:
    """What the local lists say: `action`, and the entry (`matched`) and input (`what`) that
    decided it, for the log and the reply. "none" means neither list matched."""

    action: Literal["allow", "block", "none"]
    matched: str = ""
    what: str = ""

    @property
    def allowed(self) -> bool:
        return self.action == "allow"

    @property
    def blocked(self) -> bool:
        return self.action == "block"


NO_MATCH = ListDecision("none")


@dataclass(slots=True)
class PolicyList:
    """One list (allow or block), parsed from entry strings by :meth:`parse`."""

    addresses: AddressSet = field(default_factory=AddressSet)
    domains: DomainSet = field(default_factory=DomainSet)
    senders: set[str] = field(default_factory=set)

    @classmethod
    def parse(cls, entries: Iterable[str]) -> PolicyList:
        """ValueError naming the entry when one is none of the accepted forms."""
        result = cls()
        for raw in entries:
            entry = raw.strip()
            if "@" in entry:
                local, _, domain = entry.rpartition("@")
                if not local or not domain:
                    raise ValueError(f"list entry {raw!r} is not a sender address (user@domain)")
                result.senders.add(_fold(entry))
            elif _looks_like_ip(entry):
                try:
                    result.addresses.add(entry)
                except ValueError as exc:
                    raise ValueError(f"list entry {raw!r} is not an IP address or network") from exc
            elif entry.strip(".") and " " not in entry:
                result.domains.add(entry)
            else:
                raise ValueError(f"list entry {raw!r} is not an address, network or domain")
        return result

    def match(
        self, ip: str | IPAddress | None, sender: str | None, client_names: Sequence[str]
    ) -> tuple[str, str] | None:
        """(entry, input) of the first match: address, then sender, then domains."""
        if ip is not None and self.addresses:
            hit = self.addresses.match(ip)
            if hit is not None:
                return hit, str(ip)
        if sender:
            folded = _fold(sender)
            if folded in self.senders:
                return folded, folded
            domain = folded.rpartition("@")[2]
            hit = self.domains.match(domain) if domain else None
            if hit is not None:
                return hit, domain
        for name in client_names:
            hit = self.domains.match(name)
            if hit is not None:
                return hit, _fold(name)
        return None


def _looks_like_ip(entry: str) -> bool:
    host = entry.partition("/")[0]
    return ":" in host or host.replace(".", "").isdigit()


@dataclass(slots=True)
class LocalLists:
    """The operator's allow and block lists together; allow always wins."""

    allow: PolicyList = field(default_factory=PolicyList)
    block: PolicyList = field(default_factory=PolicyList)

    @classmethod
    def parse(cls, allow: Iterable[str] = (), block: Iterable[str] = ()) -> LocalLists:
        return cls(PolicyList.parse(allow), PolicyList.parse(block))

    def decide(
        self,
        ip: str | IPAddress | None = None,
        sender: str | None = None,
        client_names: Sequence[str] = (),
    ) -> ListDecision:
        """Check what is known so far: the IP at connect, the sender at MAIL FROM.

        `client_names` should be verified (forward-confirmed reverse DNS) names only: a HELO
        name or an unverified PTR is the client's own claim and must not reach an allow list.
        """
        hit = self.allow.match(ip, sender, client_names)
        if hit is not None:
            return ListDecision("allow", *hit)
        hit = self.block.match(ip, sender, client_names)
        if hit is not None:
            return ListDecision("block", *hit)
        return NO_MATCH
