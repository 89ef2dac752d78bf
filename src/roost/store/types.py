"""Plain values that cross the storage boundary; backends and callers share only these."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

# RFC 9051 §2.3.1.1 / RFC 6154: every new user's mailboxes; INBOX is case-insensitive.
DEFAULT_MAILBOXES: tuple[str, ...] = ("INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive")
# RFC 6154 attributes of the default mailboxes (INBOX has none).
DEFAULT_SPECIAL_USE: dict[str, str] = {
    "Sent": "\\Sent",
    "Drafts": "\\Drafts",
    "Trash": "\\Trash",
    "Junk": "\\Junk",
    "Archive": "\\Archive",
}


class QueueState(enum.StrEnum):
    """Postfix's queue states: incoming (new), active (being delivered), deferred, hold."""

    INCOMING = "incoming"
    ACTIVE = "active"
    DEFERRED = "deferred"
    HOLD = "hold"


class RcptStatus(enum.StrEnum):
    PENDING = "pending"  # not yet delivered (remote, or held)
    DELIVERED = "delivered"
    DEFERRED = "deferred"
    BOUNCED = "bounced"


@dataclass(frozen=True, slots=True)
class BlobRef:
    """A content-addressed blob: the SHA-256 hex digest of its bytes and their length."""

    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class NewRecipient:
    """One envelope recipient as accepted at RCPT.

    `deliver_to` is the local user's email when the recipient resolved to a local mailbox
    (after alias and plus-address expansion); None for a remote recipient that stays queued.
    `delivery_prefix` is prepended to the stored mailbox copy (Return-Path, Delivered-To).
    """

    address: str
    deliver_to: str | None = None
    delivery_prefix: bytes = b""
    orcpt: str | None = None  # RFC 3461 §4.2 ORCPT, as given ("rfc822;addr")
    notify: str | None = None  # RFC 3461 §4.1 NOTIFY, e.g. "SUCCESS,FAILURE" or "NEVER"


@dataclass(frozen=True, slots=True)
class MessageStructure:
    """IMAP FETCH ENVELOPE, BODY and BODYSTRUCTURE in wire form (RFC 9051 §7.5.2), computed
    once from the blob at delivery and shared by every copy of it (keyed by blob digest)."""

    envelope: bytes
    body: bytes
    bodystructure: bytes
    # The blob's top-level header block, blank line included (BODY[HEADER] of the blob), for
    # header FETCH and SEARCH; b"" when longer than the cap (read the body), None when unknown.
    header: bytes | None = None


@dataclass(frozen=True, slots=True)
class NewMessage:
    """Everything intake stores for one accepted message, in one transaction."""

    queue_id: str
    sender: str  # reverse-path without brackets; "" is the null sender
    recipients: tuple[NewRecipient, ...]
    blob: BlobRef  # the message exactly as received (after dot-unstuffing)
    prefix: bytes  # header lines Roost adds in front of the blob (Received:), CRLF-terminated
    received_at: datetime  # timezone-aware UTC
    client_ip: str = ""
    helo: str = ""
    auth_user: str | None = None
    body_type: str = "7BIT"  # RFC 6152 BODY=7BIT / 8BITMIME
    smtputf8: bool = False  # RFC 6531
    ret: str | None = None  # RFC 3461 §4.3 RET=FULL|HDRS
    envid: str | None = None  # RFC 3461 §4.4 ENVID
    hold: bool = False  # put in the hold queue instead of incoming; no local delivery either
    junk: bool = False  # quarantined (e.g. DMARC p=quarantine): local copies go to Junk
    # When set, the body is stored inline in the database (table blobs) in the same transaction
    # as the rows; the caller has not written it to the file store. Its digest is blob.digest.
    body: bytes | None = None
    # Stored (by blob digest) in the same transaction when set; intake computes it for messages
    # with a local recipient so FETCH never parses the message.
    structure: MessageStructure | None = None


@dataclass(frozen=True, slots=True)
class QueueRecipient:
    idx: int
    address: str
    status: RcptStatus
    deliver_to: str | None
    orcpt: str | None
    notify: str | None
    last_reply: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """A message in the queue with all its recipients, finished or not."""

    queue_id: str
    state: QueueState
    sender: str
    blob: BlobRef
    prefix: bytes
    received_at: datetime
    next_attempt: datetime
    attempts: int
    client_ip: str
    helo: str
    auth_user: str | None
    body_type: str
    smtputf8: bool
    ret: str | None
    envid: str | None
    recipients: tuple[QueueRecipient, ...] = field(default_factory=tuple)
    warned: bool = False  # a delay DSN was already sent

    @property
    def size(self) -> int:
        return len(self.prefix) + self.blob.size


@dataclass(frozen=True, slots=True)
class User:
    email: str  # lower-cased local@domain
    password_hash: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Alias:
    source: str  # "local@domain" or "@domain" for a catch-all
    targets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Directory:
    """A snapshot of domains, users and aliases, small enough to hold in memory for RCPT checks.

    `serial` changes whenever any of them changes, so a server can poll it cheaply and reload.
    """

    serial: int
    domains: frozenset[str]
    users: dict[str, User]
    aliases: dict[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class MailboxInfo:
    user: str
    name: str
    uidvalidity: int
    uidnext: int
    highestmodseq: int
    messages: int
    subscribed: bool
    special_use: str | None = None  # RFC 6154 attribute, e.g. "\\Sent"


@dataclass(frozen=True, slots=True)
class MailboxStatus:
    """RFC 9051 §6.3.11 STATUS: the mailbox plus its UNSEEN, DELETED and SIZE counts."""

    info: MailboxInfo
    unseen: int  # messages without \\Seen
    deleted: int  # messages with \\Deleted
    size: int  # octets of all its messages (sum of RFC822.SIZE)


@dataclass(frozen=True, slots=True)
class QuotaUsage:
    """RFC 9208 STORAGE for one user: the per-user limit in octets (None = the server default)
    and what all the user's mailboxes hold."""

    limit: int | None
    used: int  # octets (sum of StoredMessage.size)
    messages: int


class FlagChange(NamedTuple):
    """One message whose flags a STORE changed (`Store.store_flags`): what the session needs
    to report it, and nothing it would have to read or build per message besides."""

    uid: int
    flags: frozenset[str]
    modseq: int


class HeaderRow(NamedTuple):
    """What a header FETCH or SEARCH needs of one message (`Store.header_rows`): no dates.
    `header` is the stored header block of the blob (see MessageStructure.header). A plain
    tuple, made straight from the database row: a FETCH of 10,000 headers makes 10,000."""

    uid: int
    flags: str  # as stored (common.decode_flags reads it)
    modseq: int
    size: int
    prefix: bytes
    header: bytes | None
    digest: str  # the blob's
    blob_size: int
    # 1 when header_rows(..., word=w) found the kept header ASCII and without `w` in any case;
    # the caller still checks the prefix before refusing the message
    lacks_word: int = 0

    @property
    def blob(self) -> BlobRef:
        return BlobRef(self.digest, self.blob_size)


@dataclass(frozen=True, slots=True)
class StoredMessage:
    user: str
    mailbox: str
    uid: int
    blob: BlobRef
    prefix: bytes  # Return-Path/Delivered-To/Received lines; the full message is prefix + blob
    size: int  # len(prefix) + blob.size, as IMAP RFC822.SIZE reports it
    internal_date: datetime
    flags: frozenset[str]
    modseq: int


# --- delivery (queue manager, attempts, suppression, TLS reporting) ---------------------------


@dataclass(frozen=True, slots=True)
class RcptOutcome:
    """What one delivery attempt decided for one recipient (by its index in the message)."""

    idx: int
    status: RcptStatus  # DELIVERED, DEFERRED or BOUNCED
    reply: str  # remote or local reply text, e.g. "550 5.1.1 <x@y>: no such user"


@dataclass(frozen=True, slots=True)
class AttemptLog:
    """One try at one host, for `roost queue show` (time, MX, IP, TLS, remote reply)."""

    queue_id: str
    at: datetime
    recipients: tuple[int, ...]  # indexes tried in this attempt
    mx_host: str
    ip: str
    port: int
    tls: str  # e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384", or "" for plaintext
    reply: str
    status: RcptStatus  # the worst outcome among those recipients


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """Everything `record_attempt` writes in one transaction.

    `next_attempt` is when still-deferred recipients are tried again; None when none are left.
    `warned` marks that a delay DSN was sent (so it is sent once).
    """

    outcomes: tuple[RcptOutcome, ...]
    attempts: tuple[AttemptLog, ...]
    next_attempt: datetime | None
    warned: bool = False


@dataclass(frozen=True, slots=True)
class Suppression:
    sender_domain: str  # whose list: suppressions are per sending domain
    address: str
    reason: str  # e.g. the 5xx reply that put it there
    source: str  # "bounce", "dsn", "admin"
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TlsResult:
    """One TLS outcome for RFC 8460 aggregate reports (counted per day and key)."""

    policy_domain: str
    day: str  # UTC date "YYYY-MM-DD"
    policy_type: str  # "sts", "no-policy-found"
    policy_string: str  # the policy text lines joined by "\n" ("" for no policy)
    mx_host: str
    receiving_ip: str
    result_type: str  # "" for success, else an RFC 8460 §4.3 result type
    success: bool


@dataclass(frozen=True, slots=True)
class TlsResultCount:
    policy_domain: str
    day: str
    policy_type: str
    policy_string: str
    mx_host: str
    receiving_ip: str
    result_type: str
    successes: int
    failures: int


@dataclass(frozen=True, slots=True)
class CachedPolicy:
    """An MTA-STS policy as fetched (RFC 8461 §5.1 caching), keyed by policy domain."""

    domain: str
    policy_id: str
    text: str
    fetched_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class DmarcEvaluation:
    """One DMARC evaluation, the unit of an RFC 7489 §7.2 aggregate report row.

    The store counts identical evaluations per UTC day; `count` is kept beside, not here.
    """

    day: str  # UTC date "YYYY-MM-DD"
    header_from: str
    source_ip: str
    envelope_from: str  # the RFC5321.MailFrom domain ("" for the null reverse-path)
    envelope_to: str  # the RFC5321.RcptTo domain
    policy_domain: str  # where the record was found (Author or Organizational Domain)
    p: str
    sp: str
    pct: int
    adkim: str
    aspf: str
    disposition: str  # none quarantine reject: what was applied
    dmarc_dkim: str  # pass fail: the aligned DKIM verdict
    dmarc_spf: str  # pass fail: the aligned SPF verdict
    dkim: tuple[tuple[str, str, str], ...]  # (domain, selector, result) per signature
    spf: tuple[tuple[str, str, str], ...]  # (domain, scope "mfrom" | "helo", result)
    reason: str = ""  # a local policy override, e.g. "trusted_forwarder", else ""
