"""What a content scanner (rspamd, ClamAV) says about a message, and the reply it implies.

Scanners fail open or closed by setting: when one cannot answer (timeout, refused, garbage),
the verdict is "accept" with `error` set (fail open: mail flows unscanned, the warning is
logged) or "tempfail" (fail closed: the client retries later, nothing unscanned gets in).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

from roost.obs.log import log_event
from roost.smtp.reply import Reply

Action = Literal["accept", "junk", "reject", "tempfail"]

# RFC 3463 §3.8: X.7.1 "delivery not authorized, message refused" -- permanently for content
# the policy refuses, temporarily while the scanner cannot decide (or asks for a retry).
REJECT_REPLY = Reply(554, "5.7.1", "Message refused by content policy")
VIRUS_REPLY = Reply(554, "5.7.1", "Message contains a virus")
TEMPFAIL_REPLY = Reply(451, "4.7.1", "Message could not be scanned now; try again later")


@dataclass(frozen=True, slots=True)
class ScanVerdict:
    """`action` and why (`text`); `headers_to_add` go into the stored prefix on accept/junk.

    `score`/`required_score` are rspamd's (None for ClamAV); `symbols` the rules that fired;
    `error` is set when the scanner failed and the verdict comes from fail_open.
    """

    action: Action
    text: str = ""
    score: float | None = None
    required_score: float | None = None
    headers_to_add: tuple[tuple[str, str], ...] = ()
    symbols: tuple[str, ...] = ()
    error: str | None = None
    reply: Reply | None = field(default=None, compare=False)

    @property
    def failed(self) -> bool:
        return self.error is not None


def scanner_failed(
    scanner: str, error: str, *, fail_open: bool, logger: logging.Logger
) -> ScanVerdict:
    """The verdict when `scanner` could not answer: accept (logged warning) or tempfail."""
    log_event(logger, f"{scanner} unavailable", logging.WARNING, error=error,
              result="accepted unscanned" if fail_open else "deferred")  # fmt: skip
    if fail_open:
        return ScanVerdict("accept", f"{scanner} unavailable: {error}", error=error)
    return ScanVerdict("tempfail", f"{scanner} unavailable: {error}", error=error,
                       reply=TEMPFAIL_REPLY)  # fmt: skip
