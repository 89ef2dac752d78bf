"""Modified UTF-7 mailbox names (RFC 3501 §5.1.3), for IMAP4rev1 clients only.

IMAP4rev2 (RFC 9051 §5.1) and UTF8=ACCEPT clients send UTF-8; the session decides which applies.
"""

from __future__ import annotations

import base64
import binascii


class MUtf7Error(ValueError):
    """The name is not valid modified UTF-7."""


def encode_mutf7(name: str) -> str:
    """Encode a Unicode mailbox name: printable ASCII stays, `&` -> `&-`, others -> `&...-`."""
    out: list[str] = []
    run: list[str] = []
    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            _flush(run, out)
            out.append("&-" if char == "&" else char)
        else:
            run.append(char)
    _flush(run, out)
    return "".join(out)


def _flush(run: list[str], out: list[str]) -> None:
    if not run:
        return
    data = "".join(run).encode("utf-16-be", "surrogatepass")
    encoded = base64.b64encode(data).decode("ascii").rstrip("=").replace("/", ",")
    out.append(f"&{encoded}-")
    run.clear()


def decode_mutf7(name: str) -> str:
    """Decode a modified UTF-7 name; raise MUtf7Error on malformed input."""
    out: list[str] = []
    pos = 0
    while pos < len(name):
        char = name[pos]
        if not 0x20 <= ord(char) <= 0x7E:
            raise MUtf7Error("non-ASCII octet in a modified UTF-7 name")
        if char != "&":
            out.append(char)
            pos += 1
            continue
        end = name.find("-", pos + 1)
        if end < 0:
            raise MUtf7Error("unterminated '&' shift")
        out.append(_decode_run(name[pos + 1 : end]))
        pos = end + 1
    return "".join(out)


def _decode_run(run: str) -> str:
    if not run:
        return "&"
    padded = run.replace(",", "/") + "=" * (-len(run) % 4)
    try:
        data = base64.b64decode(padded, validate=True)
        text = data.decode("utf-16-be")
    except (binascii.Error, UnicodeDecodeError):
        raise MUtf7Error(f"bad base64 run {run!r}") from None
    # RFC 3501 §5.1.3: printable US-ASCII must not be encoded, so reject non-canonical forms.
    if any(0x20 <= ord(c) <= 0x7E for c in text) or encode_mutf7(text) != f"&{run}-":
        raise MUtf7Error(f"non-canonical run {run!r}")
    return text
