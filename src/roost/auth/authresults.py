"""The `Authentication-Results:` header field (RFC 8601) Roost adds to inbound mail, and the
removal of forged ones claiming to be ours (RFC 8601 §5).

One field per message, results in a fixed order (spf, dkim per signature, dmarc, arc, iprev) so
that its text is predictable for tests, filters and the ARC-Authentication-Results copy.
Property values that are not RFC 2045 tokens (a base64 b= prefix with "/" or "+") are quoted.

DMARC: besides ``header.from`` (RFC 7489 §11.2), the applied policy is written as a comment
``(p=reject dis=quarantine)`` the way OpenDMARC and large providers do: RFC 8601 registers no
``policy.dmarc`` property, and a comment is safe for every parser.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from roost.auth.arc import ArcResult
    from roost.auth.dkim_verify import DkimResult
    from roost.auth.dmarc import DmarcResult

FIELD = b"Authentication-Results"
MAX_LINE = 78  # RFC 5322 §2.1.1: SHOULD be no more than 78 characters per line


@dataclass(frozen=True, slots=True)
class SpfReport:
    """SPF's result and the identity it checked: the MAIL FROM address or domain, else HELO."""

    result: str
    mailfrom: str = ""  # empty for the null reverse-path: then smtp.helo is reported
    helo: str = ""


@dataclass(frozen=True, slots=True)
class IprevReport:
    """iprev (RFC 8601 §3): forward-confirmed reverse DNS of the client address."""

    result: str
    ip: str


# RFC 2045 token: any CHAR except SPACE, CTLs and tspecials.
_TOKEN = re.compile(r"^[!#$%&\'*+\-.0-9A-Z^_`a-z{|}~]+$")
# RFC 8601 pvalue also allows [local-part] "@" domain-name unquoted.
_ADDR = re.compile(r"^(?:[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]*@)?[A-Za-z0-9](?:[A-Za-z0-9.\-]*)$")


def _value(text: str) -> str:
    if _TOKEN.match(text) or _ADDR.match(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _comment(text: str) -> str:
    clean = re.sub(r"[()\\\r\n]", "", text)
    return f"({clean})"


def _spf(spf: SpfReport) -> list[str]:
    words = [f"spf={spf.result.lower()}"]
    if spf.mailfrom:
        words.append(f"smtp.mailfrom={_value(spf.mailfrom)}")
    elif spf.helo:
        words.append(f"smtp.helo={_value(spf.helo)}")
    return words


def _dkim(result: DkimResult) -> list[str]:
    words = [f"dkim={result.result}"]
    if result.problem and result.result != "pass":
        words.append(f"reason={_value(result.problem)}")
    if result.domain:
        words.append(f"header.d={_value(result.domain)}")
    if result.selector:
        words.append(f"header.s={_value(result.selector)}")
    if result.algorithm:
        words.append(f"header.a={_value(result.algorithm)}")
    if result.header_b:
        words.append(f"header.b={_value(result.header_b)}")  # RFC 6008
    return words


def _dmarc(result: DmarcResult) -> list[str]:
    words = [f"dmarc={result.result}"]
    if result.record is not None:
        words.append(_comment(f"p={result.policy} dis={result.disposition}"))
    elif result.reason and result.result != "pass":
        words.append(_comment(result.reason))
    if result.from_domain:
        words.append(f"header.from={_value(result.from_domain)}")
    return words


def _arc(result: ArcResult) -> list[str]:
    words = [f"arc={result.result}"]
    if result.problem and result.result != "pass":
        words.append(_comment(result.problem))
    if result.result == "pass" and result.oldest_pass is not None:
        words.append(f"header.oldest-pass={result.oldest_pass}")  # RFC 8617 §10.2
    return words


def _iprev(result: IprevReport) -> list[str]:
    return [f"iprev={result.result}", f"policy.iprev={_value(result.ip)}"]


def authentication_results(
    authserv_id: str,
    *,
    spf: SpfReport | None = None,
    dkim: Sequence[DkimResult] = (),
    dmarc: DmarcResult | None = None,
    arc: ArcResult | None = None,
    iprev: IprevReport | None = None,
    dkim_checked: bool = True,
) -> bytes:
    """One folded, CRLF-terminated `Authentication-Results:` field.

    An unsigned message gets ``dkim=none`` when ``dkim_checked``; with no results at all the
    field says ``none`` (RFC 8601 §2.2: no message authentication was performed).
    """
    results: list[list[str]] = []
    if iprev is not None:
        results.append(_iprev(iprev))
    if spf is not None:
        results.append(_spf(spf))
    results.extend(_dkim(d) for d in dkim)
    if not dkim and dkim_checked:
        results.append(["dkim=none"])
    if dmarc is not None:
        results.append(_dmarc(dmarc))
    if arc is not None:
        results.append(_arc(arc))
    return _fold([[_value(authserv_id)]] + (results or [["none"]]))


def _fold(results: list[list[str]]) -> bytes:
    """Each result starts a new line; a long result wraps between words, so lines stay within
    78 octets whenever every word fits."""
    lines: list[str] = []
    line = f"{FIELD.decode()}:"
    for index, words in enumerate(results):
        if index:
            lines.append(line)
            line = ""
        for n, word in enumerate(words):
            text = word + (";" if n == len(words) - 1 and index < len(results) - 1 else "")
            if line.strip() and len(line) + 1 + len(text) > MAX_LINE:
                lines.append(line)
                line = "  "  # a wrapped result is indented further than the next result
            line += " " + text
    lines.append(line)
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


# -- removing forged fields ------------------------------------------------------------------------

_FIELD_NAME = re.compile(rb"^([!-9;-~]+)[ \t]*:", re.ASCII)


def _header_end(message: bytes) -> int:
    """Offset where the header section's terminating empty line starts (or len)."""
    pos = 0
    while pos < len(message):
        end = message.find(b"\n", pos)
        line = message[pos:] if end < 0 else message[pos : end + 1]
        if line in (b"\r\n", b"\n"):
            return pos
        if end < 0:
            return len(message)
        pos = end + 1
    return len(message)


def _fields(header: bytes) -> list[bytes]:
    """The header section split into fields, each with its continuation lines, byte-exact."""
    fields: list[bytes] = []
    for line in header.splitlines(keepends=True):
        if fields and line[:1] in (b" ", b"\t"):
            fields[-1] += line
        else:
            fields.append(line)
    return fields


def _skip_cfws(text: str, pos: int) -> int:
    """Skip whitespace and (nested) comments; bounded by the text length."""
    depth = 0
    while pos < len(text):
        ch = text[pos]
        if depth:
            if ch == "\\":
                pos += 1
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
        elif ch == "(":
            depth = 1
        elif not ch.isspace():
            break
        pos += 1
    return pos


def authserv_id_of(value: bytes) -> str:
    """The authserv-id at the start of an A-R field value (token or quoted-string), lower case."""
    text = value.decode("utf-8", "replace")
    pos = _skip_cfws(text, 0)
    if pos < len(text) and text[pos] == '"':
        out = []
        pos += 1
        while pos < len(text) and text[pos] != '"':
            if text[pos] == "\\" and pos + 1 < len(text):
                pos += 1
            out.append(text[pos])
            pos += 1
        return "".join(out).lower()
    match = re.match(r"[^\s;()\"]+", text[pos:])
    return match.group(0).lower() if match else ""


def strip_forged(message: bytes, authserv_id: str) -> bytes:
    """Remove every `Authentication-Results` field carrying our authserv-id (RFC 8601 §5).

    Everything else, including other ADMDs' fields, ARC fields and the body, is kept byte for
    byte; a message without such fields comes back unchanged.
    """
    ours = authserv_id.lower()
    end = _header_end(message)
    kept: list[bytes] = []
    removed = False
    for field_bytes in _fields(message[:end]):
        match = _FIELD_NAME.match(field_bytes)
        if (
            match
            and match.group(1).lower() == b"authentication-results"
            and authserv_id_of(field_bytes[match.end() :]) == ours
        ):
            removed = True
            continue
        kept.append(field_bytes)
    if not removed:
        return message
    return b"".join(kept) + message[end:]


def split_results(value: bytes) -> list[str]:
    """An A-R field value split at the ";" outside comments and quoted strings, each part
    unfolded and whitespace-collapsed; the first part is the authserv-id (with any version)."""
    text = value.decode("utf-8", "replace")
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\" and (quoted or depth):
            escaped = True
        elif quoted:
            quoted = ch != '"'
        elif ch == '"' and not depth:
            quoted = True
        elif ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif ch == ";" and not depth:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    cleaned = [" ".join(p.split()) for p in parts]
    return [p for p in cleaned if p]
