"""SPF macro strings (RFC 7208 §7): parsed once with the record, expanded per evaluation.

Parsing is separate from expansion so a syntax error anywhere in a record is found before any
DNS query (§4.6: the whole record is checked), and so the ``%{p}`` lookup is only made when a
macro that needs it is actually expanded.
"""

from __future__ import annotations

import ipaddress
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DOMAIN_LETTERS = frozenset("slodipvh")  # §7.2: usable everywhere
EXP_LETTERS = DOMAIN_LETTERS | frozenset("crt")  # §7.2: c, r, t only in explanation text
DELIMITERS = frozenset(".-+,/_=")  # §7.1
MAX_DOMAIN = 253  # §7.3: longer expansions lose labels on the left


class MacroError(ValueError):
    """A macro-string that breaks the §7.1 grammar (a permerror where it matters)."""


@dataclass(frozen=True, slots=True)
class Macro:
    """One ``%{...}`` expression."""

    letter: str  # lower case
    url_escape: bool  # the letter was upper case (§7.3)
    digits: int | None  # keep this many right-hand parts
    reverse: bool
    delimiters: str  # "" means "."


Token = str | Macro


@dataclass(frozen=True, slots=True)
class MacroString:
    """A parsed macro-string: literal text and macros, in order."""

    tokens: tuple[Token, ...]
    text: str  # as written, for messages

    @property
    def ends_with_macro(self) -> bool:
        """domain-end may be a macro-expand (§7.1); ``%%``, ``%_``, ``%-`` count as one too."""
        return bool(self.tokens) and isinstance(self.tokens[-1], Macro | _Escape)

    @property
    def literal_tail(self) -> str:
        """The literal text after the last macro: where a domain-spec's toplabel must be."""
        tail: list[str] = []
        for token in reversed(self.tokens):
            if isinstance(token, Macro | _Escape):
                break
            tail.append(token)
        return "".join(reversed(tail))

    @property
    def needs_ptr(self) -> bool:
        return any(isinstance(t, Macro) and t.letter == "p" for t in self.tokens)


class _Escape(str):
    """Literal text produced by ``%%``, ``%_`` or ``%-`` (still a macro-expand for domain-end)."""

    __slots__ = ()


_MACRO = re.compile(r"([A-Za-z])([0-9]*)([rR]?)([.\-+,/_=]*)\}")
_ESCAPES = {"%": "%", "_": " ", "-": "%20"}  # §7.1: %% %_ %-


def parse_macro_string(
    text: str, *, letters: frozenset[str] = DOMAIN_LETTERS, spaces: bool = False
) -> MacroString:
    """Parse a macro-string; ``letters`` are the macro letters allowed here (§7.2).

    Literal characters must be visible ASCII (%x21-7E); ``spaces`` allows SP too, for
    explanation text (§6.2: explain-string = *( macro-string / SP )).
    """
    tokens: list[Token] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "%":
            if not ("!" <= ch <= "~" or (spaces and ch == " ")):
                raise MacroError(f"character {ch!r} not allowed in {text!r}")
            literal.append(ch)
            i += 1
            continue
        nxt = text[i + 1 : i + 2]
        if nxt in _ESCAPES:
            if literal:
                tokens.append("".join(literal))
                literal = []
            tokens.append(_Escape(_ESCAPES[nxt]))
            i += 2
            continue
        if nxt != "{":
            raise MacroError(f"'%' must be followed by '{{', '%', '_' or '-' in {text!r} (§7.1)")
        match = _MACRO.match(text, i + 2)
        if match is None:
            raise MacroError(f"malformed macro in {text!r} (§7.1)")
        letter, digits, reverse, delimiters = match.groups()
        if letter.lower() not in letters:
            raise MacroError(f"macro letter {letter!r} not allowed in {text!r} (§7.2)")
        if digits and int(digits) == 0:
            raise MacroError(f"macro digit transformer must be nonzero in {text!r} (§7.3)")
        if literal:
            tokens.append("".join(literal))
            literal = []
        tokens.append(
            Macro(
                letter=letter.lower(),
                url_escape=letter.isupper(),
                digits=int(digits) if digits else None,
                reverse=bool(reverse),
                delimiters=delimiters,
            )
        )
        i = match.end()
    if literal:
        tokens.append("".join(literal))
    return MacroString(tuple(tokens), text)


@dataclass(slots=True)
class MacroContext:
    """The values macros expand to (§7.3) for one check_host() call.

    ``domain`` changes as include/redirect move evaluation on; the rest stays fixed.
    ``validated_name`` finds the ``%{p}`` value on first use (it costs DNS lookups).
    """

    sender: str
    domain: str
    ip: IPAddress
    helo: str = ""
    receiver: str = ""
    validated_name: Callable[[str], Awaitable[str]] | None = None
    now: Callable[[], float] = time.time
    _p_cache: dict[str, str] = field(default_factory=dict)

    @property
    def local_part(self) -> str:
        local, at, _ = self.sender.rpartition("@")
        return local if at and local else "postmaster"  # §4.3: no local-part -> "postmaster"

    @property
    def sender_domain(self) -> str:
        return self.sender.rpartition("@")[2]

    async def value(self, letter: str) -> str:
        """The raw value of one macro letter, before transformers."""
        if letter == "s":
            return self.sender
        if letter == "l":
            return self.local_part
        if letter == "o":
            return self.sender_domain
        if letter == "d":
            return self.domain
        if letter == "i":
            return _dotted(self.ip)
        if letter == "v":
            return "in-addr" if self.ip.version == 4 else "ip6"
        if letter == "h":
            return self.helo
        if letter == "c":
            return str(self.ip)  # RFC 5952 form for IPv6
        if letter == "r":
            return self.receiver or "unknown"
        if letter == "t":
            return str(int(self.now()))
        if letter == "p":
            if self.domain not in self._p_cache:
                finder = self.validated_name
                self._p_cache[self.domain] = (
                    await finder(self.domain) if finder is not None else "unknown"
                )
            return self._p_cache[self.domain]
        raise MacroError(f"unknown macro letter {letter!r}")


def _dotted(ip: IPAddress) -> str:
    """§7.3: "i" is dotted-quad for IPv4 and dot-separated nibbles for IPv6."""
    if ip.version == 4:
        return str(ip)
    return ".".join(ip.exploded.replace(":", ""))


def transform(value: str, macro: Macro) -> str:
    """§7.3 transformers: split on delimiters, reverse, keep the right-hand parts, join by '.'."""
    if macro.delimiters or macro.reverse or macro.digits is not None:
        delims = macro.delimiters or "."
        parts = re.split("[" + re.escape(delims) + "]", value)
        if macro.reverse:
            parts.reverse()
        if macro.digits is not None and macro.digits < len(parts):
            parts = parts[-macro.digits :]
        value = ".".join(parts)
    if macro.url_escape:
        value = urllib.parse.quote(value, safe="")  # keeps only the §7.3 unreserved set
    return value


async def expand(macros: MacroString, ctx: MacroContext) -> str:
    """The text of a macro-string for this evaluation."""
    out: list[str] = []
    for token in macros.tokens:
        if isinstance(token, Macro):
            out.append(transform(await ctx.value(token.letter), token))
        else:
            out.append(str(token))
    return "".join(out)


async def expand_domain(macros: MacroString, ctx: MacroContext) -> str:
    """A target name: expanded, trailing dot dropped, cut to 253 octets from the left (§7.3)."""
    name = await expand(macros, ctx)
    if name.endswith("."):
        name = name[:-1]
    while len(name) > MAX_DOMAIN and "." in name:
        name = name.split(".", 1)[1]
    return name
