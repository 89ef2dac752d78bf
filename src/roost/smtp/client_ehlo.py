"""What a remote SMTP server offers: its EHLO keywords (RFC 5321 §4.1.1.1) read into a value.

The outbound client decides from this value alone whether to pipeline (RFC 2920), announce SIZE
(RFC 1870), send 8-bit or UTF-8 mail (RFC 6152, RFC 6531), upgrade to TLS (RFC 3207),
authenticate (RFC 4954), use BDAT (RFC 3030) or DSN parameters (RFC 3461).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# RFC 5321 §4.1.1.1: ehlo-line = ehlo-keyword *( SP ehlo-param ); keywords are case-insensitive.
_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")


@dataclass(frozen=True, slots=True)
class Extensions:
    """The service extensions one EHLO reply advertised (all False/None after HELO)."""

    pipelining: bool = False
    size: int | None = None  # None: SIZE not offered; 0: offered without a fixed limit
    eightbitmime: bool = False
    smtputf8: bool = False
    starttls: bool = False
    auth: frozenset[str] = frozenset()  # upper-cased SASL mechanism names
    chunking: bool = False
    dsn: bool = False
    enhancedstatuscodes: bool = False
    keywords: dict[str, str] = field(default_factory=dict, hash=False)  # keyword -> params

    def has(self, keyword: str) -> bool:
        return keyword.upper() in self.keywords


NONE = Extensions()


def _size(params: str) -> int | None:
    """RFC 1870 §4: "SIZE" alone or "SIZE 0" means no fixed maximum."""
    value = params.strip()
    if not value:
        return 0
    return int(value) if value.isascii() and value.isdigit() else 0


def parse_ehlo(lines: tuple[str, ...] | list[str]) -> Extensions:
    """Read the lines of a 250 reply to EHLO; the first line is the server's greeting.

    Malformed keyword lines are skipped rather than failing the session: a server's odd
    advertisement must not stop mail that needs none of its extensions.
    """
    keywords: dict[str, str] = {}
    for line in lines[1:]:
        word, _, params = line.strip().partition(" ")
        # Some servers still send the pre-standard "AUTH=PLAIN LOGIN" form as well.
        if word.upper().startswith("AUTH="):
            word, params = "AUTH", word[5:] + " " + params
        if _KEYWORD.fullmatch(word):
            keywords.setdefault(word.upper(), params.strip())
    return _from_keywords(keywords)


def _from_keywords(keywords: dict[str, str]) -> Extensions:
    auth = frozenset(m.upper() for m in keywords.get("AUTH", "").split() if m)
    return Extensions(
        pipelining="PIPELINING" in keywords,
        size=_size(keywords["SIZE"]) if "SIZE" in keywords else None,
        eightbitmime="8BITMIME" in keywords,
        smtputf8="SMTPUTF8" in keywords,
        starttls="STARTTLS" in keywords,
        auth=auth,
        chunking="CHUNKING" in keywords,
        dsn="DSN" in keywords,
        enhancedstatuscodes="ENHANCEDSTATUSCODES" in keywords,
        keywords=keywords,
    )
