"""Error families of the IMAP core (design rule 5)."""

from __future__ import annotations


class LocalProtocolError(Exception):
    """We misused the API (e.g. a reply text with CRLF in it): a bug in Roost, not the peer."""
