"""Which failures put a recipient on the sending domain's suppression list, and the entry to store.

Suppressing is for addresses that will never accept mail again: sending to them anyway hurts the
sending domain's reputation (receivers count mail to unknown users as a spam signal). A wrong
suppression silently loses mail, so the rule is narrow: only a permanent (5xx) reply whose
enhanced status code (RFC 3463) says the address or mailbox itself is bad.

RFC 3463 §3 classes, and why each is or is not suppressed:
- X.1.x Addressing status: the address does not exist or cannot be routed -> hard, except
  5.1.7 / 5.1.8 (about the *sender's* address, not the recipient's) and 5.1.5 / 5.1.9 (not a
  failure). 5.1.10 is RFC 7505's Null MX: the domain accepts no mail at all.
- X.2.x Mailbox status: only 5.2.1 "mailbox disabled" is hard. 5.2.2 "mailbox full" is
  permanent by code but usually clears up, 5.2.3 is the message's size, 5.2.4 a list expansion
  problem: none says the address is gone.
- X.3.x Mail system (5.3.4 message too big), X.4.x Network and routing, X.5.x Protocol,
  X.6.x Content: problems of this message or this path, not of the address.
- X.7.x Security or policy: a spam or reputation block; retrying later or fixing the sender's
  setup (SPF, DKIM) helps, suppressing the recipient would not.
A 5xx without an enhanced code is not suppressed either: "550 blocked" and "550 no such user"
look alike without it.
"""

from __future__ import annotations

import re
from datetime import datetime

from roost.store.types import Suppression

# Permanent address-level failures (RFC 3463 §3.2 and §3.3, RFC 7505 §4.2 for 5.1.10).
HARD_BOUNCE_CODES: frozenset[str] = frozenset(
    {"5.1.0", "5.1.1", "5.1.2", "5.1.3", "5.1.4", "5.1.6", "5.1.10", "5.2.1"}
)
_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
_REPLY = re.compile(r"^\s*(\d{3})[ -]\s*(?:([245]\.\d{1,3}\.\d{1,3})\b)?")


def normalize_enhanced(enhanced: str) -> str:
    """'5.01.001' -> '5.1.1' (RFC 3463 §2 numbers have no leading zeros); '' when malformed."""
    match = _ENHANCED.match(enhanced)
    if match is None:
        return ""
    return ".".join(str(int(part)) for part in match.groups())


def is_hard_bounce(code: int, enhanced: str) -> bool:
    """True when a reply means the address itself can never receive mail (see module doc)."""
    if not 500 <= code <= 599:
        return False
    return normalize_enhanced(enhanced) in HARD_BOUNCE_CODES


def split_reply(reply: str) -> tuple[int, str]:
    """(code, enhanced) from a reply such as '550 5.1.1 <x@y>: no such user'; (0, '') if none."""
    match = _REPLY.match(reply)
    if match is None:
        return 0, ""
    return int(match.group(1)), match.group(2) or ""


def is_hard_bounce_reply(reply: str) -> bool:
    """is_hard_bounce on a whole reply line, for callers that kept only the text."""
    return is_hard_bounce(*split_reply(reply))


def sender_domain(sender: str) -> str:
    """The domain whose list an entry belongs to: the envelope sender's, lower-cased."""
    return sender.strip().strip("<>").rpartition("@")[2].rstrip(".").lower()


def fold_address(address: str) -> str:
    """The form lists are keyed by: no angle brackets or spaces, lower-cased.

    RFC 5321 §2.4 lets a local part be case-sensitive, but no real mailbox provider makes
    "Bob@x" and "bob@x" different people; folding means one bounce covers both spellings.
    """
    return address.strip().strip("<>").strip().lower()


def suppression_for(
    sender: str, recipient: str, reply: str, source: str, now: datetime
) -> Suppression:
    """The entry for `recipient` on the sender's domain's list (per domain: one tenant's
    bounces must not silence another tenant's mail). `reply` is kept as the reason."""
    return Suppression(
        sender_domain=sender_domain(sender),
        address=fold_address(recipient),
        reason=reply.strip()[:500],
        source=source,
        created_at=now,
    )
