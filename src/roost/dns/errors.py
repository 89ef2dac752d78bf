"""DNS errors callers can act on.

Only failures are exceptions. NXDOMAIN and NODATA are answers (SPF, DMARC and MX routing each
treat them differently from "could not find out"), so they come back as empty results with
``nxdomain`` set or not, never as exceptions.
"""

from __future__ import annotations


class DnsError(Exception):
    """Base of every error the resolver raises."""


class DnsTempError(DnsError):
    """The answer is unknown for now (SERVFAIL, REFUSED, timeout, network): retry later.

    SMTP maps this to a 4xx reply and the queue to a deferral; SPF to ``temperror``.
    """


class DnsNameError(DnsError, ValueError):
    """The name (or IP address for PTR) cannot be put in a query at all: a permanent error.

    Raised before anything is sent, e.g. an empty label or a name longer than 255 octets.
    """
