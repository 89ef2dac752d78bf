"""Organizational Domain (RFC 7489 §3.2) from the Public Suffix List, offline.

DMARC's relaxed alignment and its policy fallback both compare organizational domains, so every
caller must use the same list: one shared :class:`PublicSuffixList` (the copy bundled with the
`publicsuffixlist` package, no network fetch at run time; upgrading the package updates it).
"""

from __future__ import annotations

import contextlib
from functools import lru_cache

from publicsuffixlist import PublicSuffixList

_PSL = PublicSuffixList()  # accept_unknown: an unlisted TLD (".test") counts as one suffix label


def _normal(domain: str) -> str:
    """Lower case, no trailing dot, A-labels for internationalised names."""
    domain = domain.strip().rstrip(".").lower()
    if not domain.isascii():
        with contextlib.suppress(UnicodeError):
            domain = domain.encode("idna").decode("ascii")
    return domain


@lru_cache(maxsize=4096)
def organizational_domain(domain: str) -> str:
    """The public suffix plus one label (RFC 7489 §3.2 steps 3-4); a suffix itself stays as is.

    ``mail.example.co.uk`` -> ``example.co.uk``; ``co.uk`` -> ``co.uk`` (there is no x+1th label).
    """
    name = _normal(domain)
    if not name:
        return name
    private = _PSL.privatesuffix(name)
    return private if private else name


def same_organization(a: str, b: str) -> bool:
    """Relaxed alignment (RFC 7489 §3.1.1, §3.1.2): equal organizational domains."""
    return organizational_domain(a) == organizational_domain(b)
