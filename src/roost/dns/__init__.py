"""DNS for Roost: one caching async resolver (MX routing, SPF, DKIM, DMARC, PTR checks)."""

from roost.dns.errors import DnsError, DnsNameError, DnsTempError
from roost.dns.resolver import (
    AddressResult,
    Answer,
    MxRecord,
    MxResult,
    PtrResult,
    Resolver,
    TxtResult,
)

__all__ = [
    "AddressResult",
    "Answer",
    "DnsError",
    "DnsNameError",
    "DnsTempError",
    "MxRecord",
    "MxResult",
    "PtrResult",
    "Resolver",
    "TxtResult",
]
