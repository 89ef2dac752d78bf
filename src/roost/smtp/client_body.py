"""Outbound message framing: DATA dot-stuffing (RFC 5321 §4.5.2) and xtext (RFC 3461 §4).

Every bare CR and bare LF in a message is turned into CRLF before it is sent. A receiving server
that honours "\\n.\\n" (or similar) as an end of data would otherwise let a payload we relay end
our message early and smuggle a second one in behind it ("SMTP smuggling"); after normalising,
the only end marker on the wire is the one we add.
"""

from __future__ import annotations

import re

_LINE_END = re.compile(rb"\r\n|\r|\n")
_XTEXT_SAFE = frozenset(range(33, 127)) - {ord("+"), ord("=")}


def normalize_line_endings(body: bytes) -> bytes:
    """Every CRLF, bare CR and bare LF becomes one CRLF (RFC 5321 §2.3.8: lines end in CRLF)."""
    return _LINE_END.sub(b"\r\n", body)


def dot_stuff(body: bytes) -> bytes:
    """The DATA payload for `body`, including the final ".\\r\\n".

    RFC 5321 §4.5.2: a line that starts with "." gets one more "." in front; the message must
    end with CRLF before the terminating ".", so one is added when missing.
    """
    data = normalize_line_endings(body)
    if data and not data.endswith(b"\r\n"):
        data += b"\r\n"
    if data.startswith(b"."):
        data = b"." + data
    return data.replace(b"\r\n.", b"\r\n..") + b".\r\n"


def received_form(body: bytes) -> bytes:
    """What a conforming server stores for `body` sent with `dot_stuff` (for tests and logs)."""
    data = normalize_line_endings(body)
    if data and not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data


def xtext_encode(text: str) -> str:
    """RFC 3461 §4: "+" and "=", controls, space and non-ASCII are sent as "+XX" (UTF-8 octets)."""
    out = []
    for octet in text.encode("utf-8"):
        out.append(chr(octet) if octet in _XTEXT_SAFE else f"+{octet:02X}")
    return "".join(out)
