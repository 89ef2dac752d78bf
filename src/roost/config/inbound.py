"""Configuration of what Roost checks on mail arriving at the MX listener (issue 5):
sender authentication verdicts and what to do with them, DNS blocklists, local lists, rate
limits, greylisting and content scanners.

Defaults follow what the large mailbox providers enforce since 2024: DMARC p=reject is
honoured with a 550 5.7.1, p=quarantine goes to Junk, SPF fail without a DMARC policy goes to
Junk; no DNSBL, greylisting or scanner is on until the operator names one.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Action = Literal["reject", "junk", "tag"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _list_entry(value: str) -> str:
    """An IP, a network, a domain (".example.com" for its subdomains) or an address."""
    text = value.strip().lower()
    if not text:
        raise ValueError("empty list entry")
    try:
        ipaddress.ip_network(text, strict=False)
        return text
    except ValueError:
        pass
    domain = text.rpartition("@")[2].lstrip(".")
    if "." not in domain or " " in text:
        raise ValueError(
            f"{value!r} is not an IP, network (192.0.2.0/24), domain (example.com, "
            ".example.com) or address (user@example.com)"
        )
    return text


class ChecksConfig(_Section):
    """[checks]: SPF, DKIM, DMARC and ARC on the MX listener, and the resulting actions."""

    enabled: bool = Field(True, description="check mail arriving on the mx listener")
    authserv_id: str = Field(
        "", description="authserv-id of Authentication-Results (RFC 8601); server.hostname if empty"
    )
    dmarc_reject: Action = Field(
        "reject", description="for p=reject failures: reject (550 5.7.1), junk, or tag only"
    )
    dmarc_quarantine: Action = Field(
        "junk", description="for p=quarantine failures: junk (deliver to Junk), reject, or tag"
    )
    spf_fail_without_dmarc: Action = Field(
        "junk", description="SPF fail when the From domain has no DMARC policy"
    )
    trusted_arc_sealers: list[str] = Field(
        default_factory=list,
        description="domains whose valid ARC seal overrides a DMARC failure (mailing lists, "
        "forwarders you trust; RFC 8617 §7.2)",
    )
    arc_seal_forwarded: bool = Field(
        True, description="ARC-seal mail forwarded by aliases to other domains, with the DKIM key"
    )
    dmarc_reports: bool = Field(
        False,
        description="mail each domain's daily DMARC aggregate report to its rua (RFC 7489 "
        "§7.2; needs delivery); evaluations are recorded either way (`roost dmarc report`)",
    )

    @field_validator("trusted_arc_sealers")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        return [v.strip().lower().rstrip(".") for v in value if v.strip()]


class DnsblZone(_Section):
    zone: str = Field(description="e.g. zen.spamhaus.org")
    kind: Literal["ip", "domain"] = Field(
        "ip", description="ip: the client address (DNSBL); domain: the sender domain (RHSBL)"
    )
    codes: list[str] = Field(
        default_factory=list,
        description="answers that mean listed (e.g. ['127.0.0.2']); empty: any 127.0.0.0/8",
    )

    @field_validator("codes")
    @classmethod
    def _codes(cls, value: list[str]) -> list[str]:
        for code in value:
            if ipaddress.ip_address(code) not in ipaddress.ip_network("127.0.0.0/8"):
                raise ValueError(f"{code!r} is not a 127.0.0.0/8 answer (RFC 5782 §2.1)")
        return value


class DnsblConfig(_Section):
    """[dnsbl]: DNS blocklists checked at connect (IP) and MAIL FROM (sender domain)."""

    zones: list[DnsblZone] = Field(default_factory=list)
    action: Literal["reject", "tag"] = Field(
        "reject", description="listed: reject (554 5.7.1) or tag (X-Roost-DNSBL header)"
    )


class ListsConfig(_Section):
    """[lists]: local allow and block lists; allow wins over every other check."""

    allow: list[str] = Field(default_factory=list, description="IPs, networks, domains, addresses")
    block: list[str] = Field(default_factory=list, description="refused with 554 5.7.1")

    @field_validator("allow", "block")
    @classmethod
    def _entries(cls, value: list[str]) -> list[str]:
        return [_list_entry(v) for v in value]


class RateLimitConfig(_Section):
    """[ratelimit]: token buckets; excess gets a 4.7.x temporary failure. 0 turns one off."""

    connections_per_ip_per_minute: int = Field(60, ge=0)
    messages_per_hour_per_ip: int = Field(1000, ge=0)
    messages_per_hour_per_user: int = Field(1000, ge=0, description="authenticated senders")
    messages_per_hour_per_sender_domain: int = Field(5000, ge=0)
    exempt_networks: list[str] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"],
        description="clients never rate limited",
    )


class GreylistConfig(_Section):
    """[greylist]: RFC 6647 greylisting of (client /24, sender, recipient); off by default."""

    enabled: bool = False
    delay: float = Field(300.0, ge=0, description="seconds before a retry is accepted")
    retry_window: float = Field(2 * 86400.0, gt=0, description="seconds a first try is remembered")
    lifetime: float = Field(35 * 86400.0, gt=0, description="seconds a passed triplet stays good")
    allow: list[str] = Field(default_factory=list, description="never greylisted")

    @field_validator("allow")
    @classmethod
    def _entries(cls, value: list[str]) -> list[str]:
        return [_list_entry(v) for v in value]


class ScannerConfig(_Section):
    """[rspamd] / [clamd]: off while the address is empty."""

    address: str = Field(
        "",
        description="rspamd: host:11333 (or http://host:11333); clamd: host:3310 or the path of "
        "its unix socket",
    )
    timeout: float = Field(15.0, gt=0)
    fail_open: bool = Field(
        True, description="when the scanner is down: accept (true) or answer 451 4.7.1 (false)"
    )

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        text = value.strip()
        if text and not text.startswith("/"):
            host_port(text)  # raises ValueError with the fix
        return text


def host_port(address: str) -> tuple[str, int]:
    """("host", port) from "host:port", "[v6]:port" or "http://host:port[/]"."""
    text = address.strip().removeprefix("http://").rstrip("/")
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host or not 0 < int(port) < 65536:
        raise ValueError(f"{address!r} is not host:port (e.g. 127.0.0.1:11333)")
    return host.strip("[]"), int(port)
