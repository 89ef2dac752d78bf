"""Typed IMAP4rev2 commands (RFC 9051 §6), one frozen dataclass per command family.

Every command carries its `tag` and its upper-cased `name`. Mailbox names are given as the
client sent them (UTF-8 for IMAP4rev2 / UTF8=ACCEPT clients; the session decodes RFC 3501
modified UTF-7 with `mutf7.decode_mutf7` for IMAP4rev1 clients), except that INBOX is
normalised to upper case (RFC 9051 §5.1).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from roost.imap.fetch import FetchItem
from roost.imap.search import And
from roost.imap.sequence import SequenceSet


@dataclass(frozen=True, slots=True)
class Simple:
    """CAPABILITY, NOOP, LOGOUT, STARTTLS, NAMESPACE, IDLE, CHECK, CLOSE, UNSELECT, EXPUNGE."""

    tag: str
    name: str


@dataclass(frozen=True, slots=True)
class Login:
    tag: str
    name: str
    user: str
    password: str


@dataclass(frozen=True, slots=True)
class Authenticate:
    """RFC 9051 §6.2.2; `initial` is RFC 4959 SASL-IR, base64-decoded ("=" -> b"")."""

    tag: str
    name: str
    mechanism: str  # upper-cased
    initial: bytes | None = None


@dataclass(frozen=True, slots=True)
class Enable:
    tag: str
    name: str
    capabilities: tuple[str, ...]  # upper-cased


@dataclass(frozen=True, slots=True)
class QResync:
    """RFC 7162 §3.2.5 SELECT/EXAMINE (QRESYNC (uidvalidity modseq [known-uids [seq-match]]))."""

    uidvalidity: int
    modseq: int
    known_uids: SequenceSet | None = None
    known_sequence: SequenceSet | None = None
    known_uid_match: SequenceSet | None = None


@dataclass(frozen=True, slots=True)
class Select:
    """SELECT, or EXAMINE (`name` == "EXAMINE") which opens the mailbox read-only."""

    tag: str
    name: str
    mailbox: str
    condstore: bool = False
    qresync: QResync | None = None


@dataclass(frozen=True, slots=True)
class MailboxCommand:
    """CREATE, DELETE, SUBSCRIBE, UNSUBSCRIBE, GETQUOTAROOT: one mailbox argument."""

    tag: str
    name: str
    mailbox: str
    special_use: tuple[str, ...] = ()  # RFC 6154 §3: CREATE name (USE (\Drafts))


@dataclass(frozen=True, slots=True)
class Rename:
    tag: str
    name: str
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class List:
    """LIST (with RFC 5258 LIST-EXTENDED options) or LSUB (`name` == "LSUB")."""

    tag: str
    name: str
    reference: str
    patterns: tuple[str, ...]
    selection: tuple[str, ...] = ()  # upper-cased: SUBSCRIBED, REMOTE, RECURSIVEMATCH, …
    returns: tuple[str, ...] = ()  # upper-cased: SUBSCRIBED, CHILDREN, SPECIAL-USE, STATUS
    status_items: tuple[str, ...] = ()  # RFC 5819 RETURN (STATUS (MESSAGES UIDNEXT …))


@dataclass(frozen=True, slots=True)
class Status:
    tag: str
    name: str
    mailbox: str
    items: tuple[str, ...]  # upper-cased


@dataclass(frozen=True, slots=True)
class AppendMessage:
    flags: tuple[str, ...]
    date: dt.datetime | None
    data: bytes
    binary: bool = False  # sent as literal8 ~{n} (RFC 3516 §4.4)


@dataclass(frozen=True, slots=True)
class Append:
    """APPEND; several messages under RFC 3502 MULTIAPPEND."""

    tag: str
    name: str
    mailbox: str
    messages: tuple[AppendMessage, ...]


@dataclass(frozen=True, slots=True)
class Expunge:
    """UID EXPUNGE (RFC 9051 §6.4.9); plain EXPUNGE is a `Simple`."""

    tag: str
    name: str
    uids: SequenceSet
    uid: bool = True


@dataclass(frozen=True, slots=True)
class Search:
    tag: str
    name: str
    key: And
    uid: bool = False
    charset: str | None = None
    returns: tuple[str, ...] | None = None  # RFC 4731/9051 ESEARCH: MIN MAX ALL COUNT SAVE


@dataclass(frozen=True, slots=True)
class Fetch:
    tag: str
    name: str
    numbers: SequenceSet
    items: tuple[FetchItem, ...]
    uid: bool = False
    changed_since: int | None = None  # RFC 7162 §3.1.4.1
    vanished: bool = False  # RFC 7162 §3.2.6 (UID FETCH only)


@dataclass(frozen=True, slots=True)
class Store:
    tag: str
    name: str
    numbers: SequenceSet
    mode: str  # "+" add, "-" remove, "" replace
    flags: tuple[str, ...]
    silent: bool = False
    uid: bool = False
    unchanged_since: int | None = None  # RFC 7162 §3.1.3


@dataclass(frozen=True, slots=True)
class Copy:
    """COPY or MOVE (RFC 6851), with or without UID."""

    tag: str
    name: str
    numbers: SequenceSet
    mailbox: str
    uid: bool = False


@dataclass(frozen=True, slots=True)
class Id:
    """RFC 2971 ID: NIL or field/value pairs."""

    tag: str
    name: str
    params: tuple[tuple[str, str | None], ...] | None


@dataclass(frozen=True, slots=True)
class GetQuota:
    """RFC 9208 GETQUOTA quota-root."""

    tag: str
    name: str
    root: str


Command = (
    Simple
    | Login
    | Authenticate
    | Enable
    | Select
    | MailboxCommand
    | Rename
    | List
    | Status
    | Append
    | Expunge
    | Search
    | Fetch
    | Store
    | Copy
    | Id
    | GetQuota
)
