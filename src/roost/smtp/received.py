"""The trace header Roost prepends to every accepted message (RFC 5321 §4.4, RFC 5322 §3.6.7)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime


@dataclass(frozen=True, slots=True)
class TlsInfo:
    version: str  # e.g. "TLSv1.3"
    cipher: str  # e.g. "TLS_AES_256_GCM_SHA384"
    bits: int


@dataclass(frozen=True, slots=True)
class TraceInfo:
    helo: str
    client_ip: str
    hostname: str
    queue_id: str
    extended: bool  # EHLO rather than HELO
    tls: TlsInfo | None
    authenticated: bool
    smtputf8: bool
    recipients: tuple[str, ...]
    when: datetime


def protocol_keyword(info: TraceInfo) -> str:
    """The "with" value: RFC 3848 (ESMTP, ESMTPS, ESMTPA, ESMTPSA) and RFC 6531 §3.7.3 (UTF8...)."""
    base = "UTF8SMTP" if info.smtputf8 else ("ESMTP" if info.extended else "SMTP")
    suffix = ("S" if info.tls else "") + ("A" if info.authenticated else "")
    return base + suffix


def address_literal(ip: str) -> str:
    """RFC 5321 §4.1.3: IPv6 literals carry the "IPv6:" tag."""
    try:
        parsed = ipaddress.ip_address(ip)
    except ValueError:
        return f"[{ip}]"
    return f"[IPv6:{parsed}]" if parsed.version == 6 else f"[{parsed}]"


class _DateCache:
    """RFC 5322 date text, formatted once per second: it is on every message's accept path."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def text(self, when: datetime) -> str:
        second = int(when.timestamp())
        if second != self._second:
            self._second, self._text = second, format_datetime(when.replace(microsecond=0))
        return self._text


_dates = _DateCache()


def received_header(info: TraceInfo) -> bytes:
    """A folded Received: line; "for" names the recipient only when there is exactly one."""
    parts = [f"Received: from {info.helo or 'unknown'} ({address_literal(info.client_ip)})"]
    if info.tls:
        bits = f"{info.tls.bits}/{info.tls.bits} bits"
        parts.append(f"(using {info.tls.version} with cipher {info.tls.cipher} ({bits}))")
    parts.append(f"by {info.hostname} (Roost) with {protocol_keyword(info)} id {info.queue_id}")
    date = _dates.text(info.when)
    if len(info.recipients) == 1:
        parts.append(f"for <{info.recipients[0]}>; {date}")
    else:
        parts.append(f"; {date}".lstrip())
    return ("\r\n\t".join(parts) + "\r\n").encode("utf-8")
