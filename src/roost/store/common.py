"""Pure logic shared by the SQL backends: normalisation, time encoding, delivery planning.

Nothing here touches a database, so both backends behave the same by construction and this
module is tested without one.

Addresses: Roost treats the whole address case-insensitively, local part included (RFC 5321
§2.4 lets the receiving host decide; every mainstream server folds case). Emails, alias sources
and domains are therefore stored lower-cased, and every lookup lower-cases its argument first.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from roost.store.interface import StoreError
from roost.store.types import NewMessage, NewRecipient

INBOX = "INBOX"
JUNK = "Junk"  # RFC 6154 \\Junk default mailbox: where quarantined mail is delivered

# Fixed-width ISO-8601 in UTC: text comparison orders it correctly (the SQLite queue index
# relies on that).
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utc_now() -> datetime:
    """The default clock; stores take a clock argument so tests can pin time."""
    return datetime.now(UTC)


def to_utc(value: datetime) -> datetime:
    """Refuse naive datetimes: a naive time in the queue is a bug that shifts retries by hours."""
    if value.tzinfo is None:
        raise StoreError(f"naive datetime {value.isoformat()} given to the store; use UTC")
    return value.astimezone(UTC)


def ts_to_text(value: datetime) -> str:
    return to_utc(value).strftime(_TS_FORMAT)


def ts_from_text(value: str) -> datetime:
    # fromisoformat reads ts_to_text's "...T..:..:...ffffffZ" (Python 3.11+) about 6x faster than
    # strptime; it runs once per message row, so it matters for IMAP on large mailboxes.
    if value.endswith("Z"):
        return datetime.fromisoformat(value)
    return datetime.strptime(value, _TS_FORMAT).replace(tzinfo=UTC)


def _fold(text: str) -> str:
    """NFC then lower-case, as roost.accounts does, so both sides agree on one spelling."""
    return unicodedata.normalize("NFC", text.strip()).lower()


def normalize_domain(name: str) -> str:
    """Lower-case and strip a trailing dot; reject what cannot be a domain name."""
    domain = _fold(name).rstrip(".")
    if not domain or any(c.isspace() for c in domain) or "@" in domain:
        raise StoreError(f"{name!r} is not a domain name (e.g. 'example.org')")
    return domain


def normalize_email(email: str) -> str:
    """Lower-cased local@domain (see the module docstring for why the local part is folded)."""
    value = _fold(email)
    local, at, domain = value.rpartition("@")
    if not at or not local or any(c.isspace() for c in value):
        raise StoreError(f"{email!r} is not an email address (e.g. 'alice@example.org')")
    return f"{local}@{normalize_domain(domain)}"


def fold_address(address: str) -> str:
    """Lower-cased like normalize_email, but never refused: a suppression must be recordable
    for whatever address a remote server bounced (a quoted local part may hold spaces)."""
    local, at, domain = _fold(address).rpartition("@")
    return f"{local}@{domain.rstrip('.')}" if at else domain


def normalize_alias_source(source: str) -> str:
    """An address, or "@domain" for a catch-all."""
    if source.strip().startswith("@"):
        return "@" + normalize_domain(source.strip()[1:])
    return normalize_email(source)


def domain_of(address: str) -> str:
    return address.rpartition("@")[2]


def not_local_error(domain: str) -> StoreError:
    return StoreError(f"domain {domain} is not local; add it with `roost domain add {domain}`")


def canonical_mailbox(name: str) -> str:
    """RFC 9051 §5.1: INBOX is case-insensitive; every other name is taken as given."""
    return INBOX if name.upper() == INBOX else name


def encode_flags(flags: frozenset[str]) -> str:
    """Space-separated and sorted, so equal sets give equal text (readable in the database too)."""
    return " ".join(sorted(flags))


def decode_flags(text: str) -> frozenset[str]:
    return frozenset(text.split())


@dataclass(frozen=True, slots=True)
class Delivery:
    """One copy to append to a local INBOX: which recipients it satisfies and its prefix."""

    user: str
    indexes: tuple[int, ...]  # recipient idx values marked delivered by this copy
    prefix: bytes  # recipient's delivery prefix + the message prefix


def plan_deliveries(prefix: bytes, recipients: Mapping[int, NewRecipient]) -> list[Delivery]:
    """Local copies for a message: one per distinct user, however many recipients map to it.

    Alias expansion can make two recipients land in the same mailbox; the user must see the
    message once, and every such recipient counts as delivered. The first recipient's
    delivery prefix (Return-Path, Delivered-To) goes on the copy, in front of `prefix`.
    """
    by_user: dict[str, list[int]] = {}
    first: dict[str, NewRecipient] = {}
    for idx, rcpt in sorted(recipients.items()):
        if rcpt.deliver_to is None:
            continue
        user = normalize_email(rcpt.deliver_to)
        by_user.setdefault(user, []).append(idx)
        first.setdefault(user, rcpt)
    return [
        Delivery(user, tuple(idxs), first[user].delivery_prefix + prefix)
        for user, idxs in by_user.items()
    ]


def plan_for_new(msg: NewMessage) -> list[Delivery]:
    """A held message is delivered nowhere until it is released."""
    return [] if msg.hold else plan_deliveries(msg.prefix, dict(enumerate(msg.recipients)))


def missing_user_reply(user: str) -> str:
    return f"local user {user} does not exist (removed?); kept in the queue, nothing lost"


# RFC 9051 §2.3.2: system flags have one canonical spelling; keywords keep the client's case
# but compare case-insensitively.
SYSTEM_FLAGS: dict[str, str] = {
    f.lower(): f for f in ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")
}
# RFC 6154 §2: the special-use attributes a mailbox may have.
SPECIAL_USES: dict[str, str] = {
    f.lower(): f
    for f in ("\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash")
}
# The hierarchy separator of mailbox names (RFC 9051 §5.1): renames carry inferiors along.
HIERARCHY_DELIMITER = "/"


def normalize_flags(flags: frozenset[str] | set[str] | tuple[str, ...]) -> dict[str, str]:
    """Flags keyed by their case-folded form, each with its stored spelling.

    System flags take their canonical case; keywords keep the first spelling given. A flag
    that cannot be stored (empty, or with whitespace: the column is space-separated) is refused.
    """
    out: dict[str, str] = {}
    for flag in sorted(flags):
        if not flag or any(c.isspace() for c in flag):
            raise StoreError(f"{flag!r} is not a flag")
        key = flag.lower()
        out.setdefault(key, SYSTEM_FLAGS.get(key, flag))
    return out


def apply_flags(current: frozenset[str], change: dict[str, str], mode: str) -> frozenset[str]:
    """STORE FLAGS / +FLAGS / -FLAGS (RFC 9051 §6.4.6) on normalised flags.

    Adding a keyword that is already there in another case keeps the stored spelling.
    """
    have = normalize_flags(current)
    if mode == "set":
        result = dict(change)
    elif mode == "add":
        result = {**change, **have}
    elif mode == "remove":
        result = {k: v for k, v in have.items() if k not in change}
    else:
        raise StoreError(f"unknown flag store mode {mode!r}")
    return frozenset(result.values())


def normalize_special_use(value: str | None) -> str | None:
    if value is None:
        return None
    canonical = SPECIAL_USES.get(value.lower())
    if canonical is None:
        raise StoreError(f"{value!r} is not a special-use attribute (RFC 6154)")
    return canonical
