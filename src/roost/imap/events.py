"""What the sans-I/O IMAP command reader returns (RFC 9051 §2.2, RFC 7888 literals).

`CommandReader.next_command()` yields a `Command` (commands.py) or one of these values.
"""

from __future__ import annotations

from dataclasses import dataclass


class _NeedData:
    """Sentinel: more bytes are needed before another result can be produced."""

    _instance: _NeedData | None = None

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()
NeedData = _NeedData


@dataclass(frozen=True, slots=True)
class NeedContinuation:
    """RFC 9051 §7.5: a synchronising literal was announced; send "+ Ready" before its octets."""

    tag: str


@dataclass(frozen=True, slots=True)
class ParseError:
    """The command is refused; answer `tag BAD text`, or `* BAD text` when `tag` is None."""

    tag: str | None
    text: str


@dataclass(frozen=True, slots=True)
class Done:
    """RFC 2177/9051 §6.3.13: the DONE line that ends IDLE (read only after `expect_done()`)."""


@dataclass(frozen=True, slots=True)
class SaslResponse:
    """A client line during AUTHENTICATE (after `expect_sasl()`); `data` None means "*" (cancel)."""

    data: bytes | None


@dataclass(frozen=True, slots=True)
class Closed:
    """The peer closed the connection (receive_data(b"")) and nothing complete is left."""
