"""The storage contract: narrow, coarse-grained, one transaction per method.

Backends (SQLite, PostgreSQL) implement `Store` synchronously; `AsyncStore` runs the calls on a
dedicated worker thread so the event loop never blocks on the database. The CLI uses `Store`
directly. Both backends pass the same conformance suite (tests/store/).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from roost.store.types import (
    Alias,
    AttemptLog,
    AttemptResult,
    BlobRef,
    CachedPolicy,
    Directory,
    DmarcEvaluation,
    FlagChange,
    HeaderRow,
    MailboxInfo,
    MailboxStatus,
    MessageStructure,
    NewMessage,
    QueueEntry,
    QuotaUsage,
    StoredMessage,
    Suppression,
    TlsResult,
    TlsResultCount,
    User,
)


class StoreError(Exception):
    """A storage operation failed for a reason the caller can name (duplicate, missing, ...)."""


class NotFound(StoreError):
    pass


class AlreadyExists(StoreError):
    pass


@dataclass(frozen=True, slots=True)
class GreylistTimes:
    """A greylisting policy's durations (postgrey's defaults: 300 s, 2 days, 35 days): the
    first delay, how long after first sight a retry still passes, and how long a passed
    triplet stays whitelisted after it was last seen."""

    delay: timedelta = timedelta(seconds=300)
    retry_window: timedelta = timedelta(days=2)
    lifetime: timedelta = timedelta(days=35)


@dataclass(frozen=True, slots=True)
class GreylistOutcome:
    """One attempt's verdict: pass, or try again in `retry_after` seconds. `state`: "new",
    "early" (retried before the delay), "retried" (first pass), "whitelisted", "expired"
    (retried after the window, or whitelisting lapsed: waits again as if new)."""

    passed: bool
    retry_after: int
    state: str


class BlobStore(Protocol):
    """Content-addressed message bodies. `put` does not sync; `sync` makes a batch durable."""

    def put(self, data: bytes) -> BlobRef: ...
    def put_file(self, path: str, digest: str, size: int) -> BlobRef: ...
    def sync(self, refs: Sequence[BlobRef]) -> None: ...
    def get(self, ref: BlobRef) -> bytes: ...
    def get_many(self, refs: Sequence[BlobRef]) -> dict[str, bytes]: ...  # digest -> bytes
    # digest -> the first `length` octets (or more: callers only rely on the prefix)
    def get_heads(self, refs: Sequence[BlobRef], length: int) -> dict[str, bytes]: ...
    def exists(self, ref: BlobRef) -> bool: ...
    def delete(self, ref: BlobRef) -> None: ...
    def spool_dir(self) -> str: ...


class Store(Protocol):
    """Metadata store. Every method is one transaction; nothing half-done is ever visible."""

    # --- lifecycle -------------------------------------------------------------------------
    def schema_version(self) -> int: ...
    def close(self) -> None: ...

    # --- directory: domains, users, aliases -----------------------------------------------
    def add_domain(self, name: str) -> None: ...  # AlreadyExists
    # NotFound; refuses while users exist (StoreError)
    def remove_domain(self, name: str) -> None: ...
    def list_domains(self) -> list[str]: ...
    def add_user(self, email: str, password_hash: str) -> None: ...  # creates DEFAULT_MAILBOXES
    def remove_user(self, email: str) -> None: ...  # NotFound; removes mailboxes and messages
    def set_password(self, email: str, password_hash: str) -> None: ...  # NotFound
    def get_user(self, email: str) -> User | None: ...
    def list_users(self) -> list[User]: ...
    def add_alias(self, source: str, targets: Sequence[str]) -> None: ...  # adds to existing
    def remove_alias(self, source: str) -> None: ...  # NotFound
    def list_aliases(self) -> list[Alias]: ...
    def directory_serial(self) -> int: ...
    def load_directory(self) -> Directory: ...

    # --- queue ----------------------------------------------------------------------------
    def enqueue_batch(self, messages: Sequence[NewMessage]) -> None:
        """Store accepted messages in ONE transaction (group commit).

        Local recipients (deliver_to set) of non-held messages are delivered into the user's INBOX
        in the same transaction and marked delivered; a message with nothing left pending is not
        kept in the queue. A message with `body` set has it stored inline (table blobs) in the
        same transaction, refused (StoreError) when its length is not `blob.size`; every other
        blob must already be synced by the caller.
        """
        ...

    def list_queue(self) -> list[QueueEntry]: ...
    def get_queue_entry(self, queue_id: str) -> QueueEntry | None: ...
    def hold(self, queue_id: str) -> None: ...  # NotFound
    def release(self, queue_id: str) -> None: ...  # NotFound; back to incoming, due now
    def delete_queue_entry(self, queue_id: str) -> BlobRef: ...  # NotFound; returns the blob
    def blob_in_use(self, ref: BlobRef) -> bool: ...  # any queue row or message references it

    # --- inline blobs (the database tier of TieredBlobStore) --------------------------------
    def put_blob(self, ref: BlobRef, data: bytes) -> None: ...  # own transaction; idempotent
    def get_blob(self, digest: str) -> bytes | None: ...
    def get_blobs(self, digests: Sequence[str]) -> dict[str, bytes]: ...  # the ones found
    def get_blob_heads(self, digests: Sequence[str], length: int) -> dict[str, bytes]: ...
    # removes the row (and the blob's message structure), in use or not: the caller checks
    # blob_in_use first
    def delete_blob(self, digest: str) -> None: ...

    # --- message structures (ENVELOPE/BODY/BODYSTRUCTURE wire bytes, by blob digest) ---------
    def get_structures(self, digests: Sequence[str]) -> dict[str, MessageStructure]: ...
    def put_structures(self, items: Sequence[tuple[str, MessageStructure]]) -> None: ...  # idem.
    # (digest, header block) for rows stored before headers were kept; others are left alone
    def put_headers(self, items: Sequence[tuple[str, bytes]]) -> None: ...

    # --- delivery (issue 3: queue manager, attempts, suppression, TLS reporting) --------------
    def claim_due(
        self, owner: str, now: datetime, limit: int, lease: timedelta
    ) -> list[QueueEntry]:
        """Lease up to `limit` due messages (incoming or deferred, next_attempt <= now, no live
        lease) to `owner` until now + lease, moving them to ACTIVE; oldest next_attempt first.
        PostgreSQL uses FOR UPDATE SKIP LOCKED so nodes never claim the same message; a lease
        that expired (its owner died) makes the message claimable again. Held messages never."""
        ...

    def record_attempt(self, queue_id: str, owner: str, result: AttemptResult) -> None:
        """Apply an attempt's outcomes in one transaction, only while `owner` holds the lease
        (StoreError otherwise: the lease was lost and another node may be delivering).
        Recipients get their status and last reply; attempt logs are appended; attempts += 1.
        If no recipient is PENDING or DEFERRED any more, the message leaves the queue (rows
        deleted; attempt logs too); else it goes to DEFERRED with `next_attempt`, lease cleared."""
        ...

    def record_attempts(
        self, owner: str, items: Sequence[tuple[str, AttemptResult]]
    ) -> list[StoreError | None]:
        """record_attempt for many messages in one transaction; each message is applied or
        rolled back on its own (savepoints), its error returned in its slot."""
        ...

    def release_lease(self, queue_id: str, owner: str, next_attempt: datetime) -> None:
        """Give a claimed message back untried (e.g. destination throttled): ACTIVE -> its
        previous state (DEFERRED if it had attempts, else INCOMING), due at next_attempt."""
        ...

    def retry_now(self, queue_id: str | None, now: datetime) -> int:
        """`roost queue retry ID|--all` / flush: deferred (and incoming) messages due now.
        Returns how many; NotFound for an unknown ID."""
        ...

    def list_attempts(self, queue_id: str) -> list[AttemptLog]: ...

    def add_suppression(self, entry: Suppression) -> None: ...  # replaces an existing one
    def remove_suppression(self, sender_domain: str, address: str) -> None: ...  # NotFound
    def list_suppressions(self, sender_domain: str | None = None) -> list[Suppression]: ...
    def find_suppression(self, sender_domain: str, address: str) -> Suppression | None: ...

    def record_tls_results(self, results: Sequence[TlsResult]) -> None:
        """Add to the per-day counters (one row per distinct key, successes/failures summed)."""
        ...

    def tls_result_counts(self, policy_domain: str, day: str) -> list[TlsResultCount]: ...
    def tls_report_domains(self, day: str) -> list[str]: ...  # policy domains with results

    def get_mta_sts_policy(self, domain: str) -> CachedPolicy | None: ...
    def put_mta_sts_policy(self, policy: CachedPolicy) -> None: ...

    # --- mail store (IMAP model) ----------------------------------------------------------
    def list_mailboxes(self, user: str) -> list[MailboxInfo]: ...
    def get_mailbox(self, user: str, name: str) -> MailboxInfo | None: ...
    def list_messages(self, user: str, mailbox: str) -> list[StoredMessage]: ...
    def get_message(self, user: str, mailbox: str, uid: int) -> StoredMessage | None: ...
    def expunge_messages(self, user: str, mailbox: str, uids: Sequence[int]) -> list[BlobRef]:
        """Delete the messages with these UIDs (unknown UIDs ignored; NotFound for a missing
        mailbox), advancing HIGHESTMODSEQ (RFC 7162) and never reusing UIDs; the removed UIDs
        are remembered with that MODSEQ (see expunged_since). Returns the blobs nothing
        references any more, for the caller to delete from the BlobStore."""
        ...

    # --- mail store changes for IMAP (each one transaction) ---------------------------------
    def create_mailbox(self, user: str, name: str, special_use: str | None = None) -> MailboxInfo:
        """A new empty mailbox with a UIDVALIDITY never used before. AlreadyExists (INBOX
        always exists); NotFound for an unknown user; StoreError for a bad name or an
        attribute that is not RFC 6154 special-use (stored in its canonical case)."""
        ...

    def delete_mailbox(self, user: str, name: str) -> list[BlobRef]:
        """Remove a mailbox and its messages (not its inferiors). NotFound; INBOX cannot be
        deleted (StoreError). Returns the blobs nothing references any more."""
        ...

    def rename_mailbox(self, user: str, old: str, new: str) -> None:
        """RFC 9051 §6.3.6: UIDs and UIDVALIDITY kept, inferiors ("old/x") renamed too.
        Renaming INBOX creates `new` (new UIDVALIDITY) holding all INBOX messages and leaves
        INBOX empty (expunged, its UIDNEXT kept). NotFound / AlreadyExists."""
        ...

    def set_subscribed(self, user: str, name: str, subscribed: bool) -> None: ...  # NotFound

    def append_message(
        self,
        user: str,
        mailbox: str,
        blob: BlobRef,
        body: bytes | None,
        flags: frozenset[str],
        internal_date: datetime,
        *,
        structure: MessageStructure | None = None,
    ) -> StoredMessage:
        """APPEND: the next UID and a new MODSEQ; flags normalised as in store_flags. With
        `body` the blob is stored inline (table blobs) in the same transaction (StoreError when
        its length is not blob.size); otherwise the caller has already synced it to the file
        tier. `structure` is stored for the blob in the same transaction. NotFound for a
        missing mailbox."""
        ...

    def store_flags(
        self,
        user: str,
        mailbox: str,
        uids: Sequence[int],
        flags: frozenset[str],
        mode: Literal["set", "add", "remove"],
        unchanged_since: int | None = None,
    ) -> tuple[list[FlagChange], list[int]]:
        """STORE: (the messages whose flags changed, each with a new MODSEQ; the UIDs refused
        because their MODSEQ is above `unchanged_since`, RFC 7162 §3.1.3). Unknown UIDs and
        messages whose flags stay the same are left out and keep their MODSEQ. System flags are
        stored in canonical case (\\Seen ...); keywords keep their case, compared without it."""
        ...

    def copy_messages(
        self, user: str, source: str, uids: Sequence[int], target: str
    ) -> list[tuple[int, int]]:
        """COPY: (source UID, new target UID) pairs in source UID order, for COPYUID.
        Flags, INTERNALDATE and body are kept; each copy gets a new MODSEQ in the target."""
        ...

    def move_messages(
        self, user: str, source: str, uids: Sequence[int], target: str
    ) -> list[tuple[int, int]]:
        """MOVE (RFC 6851): copy_messages and expunge_messages in one transaction."""
        ...

    def messages_since(self, user: str, mailbox: str, modseq: int) -> list[StoredMessage]:
        """Messages with MODSEQ > modseq, by UID (CONDSTORE CHANGEDSINCE). NotFound."""
        ...

    def expunged_since(self, user: str, mailbox: str, modseq: int) -> list[int]:
        """UIDs expunged with MODSEQ > modseq, ascending (QRESYNC VANISHED). NotFound."""
        ...

    def mailbox_usage(self, user: str) -> int: ...  # octets of all the user's messages

    # --- reads for the IMAP session (each one snapshot) ---------------------------------------
    def mailbox_uids(self, user: str, mailbox: str) -> tuple[MailboxInfo, list[int]]:
        """SELECT: the mailbox and all its UIDs ascending, from one snapshot. NotFound."""
        ...

    def mailbox_index(
        self, user: str, mailbox: str
    ) -> tuple[MailboxInfo, list[tuple[int, str, int]]]:
        """SELECT: the mailbox and (uid, flags, modseq) of every message ascending, one snapshot;
        flags as stored (space-separated, sorted: `store.common.decode_flags` reads them).
        The IMAP session keeps this as its view, so flag-only FETCH and SEARCH need no query."""
        ...

    def get_messages(self, user: str, mailbox: str, uids: Sequence[int]) -> list[StoredMessage]:
        """The messages with these UIDs, ascending; unknown UIDs skipped. NotFound."""
        ...

    def header_rows(
        self, user: str, mailbox: str, uids: Sequence[int], word: str | None = None
    ) -> list[HeaderRow]:
        """As get_messages, without the internal date and with the stored header block of
        each blob (None when not stored yet, b"" when too long): header FETCH and SEARCH.
        With an ASCII `word`, rows whose kept header is ASCII and lacks it in any case come
        with `lacks_word` set (a SEARCH prefilter)."""
        ...

    def first_unseen(self, user: str, mailbox: str) -> int | None:
        """The lowest UID without \\Seen (None when all are seen). NotFound."""
        ...

    def mailbox_status(self, user: str, mailbox: str) -> MailboxStatus: ...  # NotFound

    def mailbox_marks(self, users: Sequence[str]) -> dict[tuple[str, str], tuple[int, int, int]]:
        """(user, mailbox name) -> (UIDVALIDITY, HIGHESTMODSEQ, UIDNEXT) for every mailbox of
        these users, in one query: every change to a mailbox's messages advances HIGHESTMODSEQ
        or UIDNEXT, so polling this notices changes made by other processes and nodes."""
        ...

    # --- quota (RFC 9208 STORAGE) -------------------------------------------------------------
    def set_quota(self, email: str, limit: int | None) -> None: ...  # octets; None = default
    def get_quota(self, email: str) -> QuotaUsage: ...  # NotFound
    def quota_table(self) -> dict[str, QuotaUsage]: ...  # every user, one query

    # --- greylisting (RFC 6647; triplets shared by every node) --------------------------------
    def greylist_check(
        self, client_net: str, sender: str, recipient: str, now: datetime, times: GreylistTimes
    ) -> GreylistOutcome:
        """Record an attempt of the triplet and decide it, in one transaction on the locked row
        (sender and recipient compared case-insensitively); concurrent nodes agree."""
        ...

    def greylist_purge(self, now: datetime, times: GreylistTimes) -> int:
        """Delete triplets that can no longer pass (pending past the retry window, whitelisted
        but unseen for the lifetime); returns how many."""
        ...

    # --- DMARC aggregate reports (RFC 7489 §7.2) ----------------------------------------------
    def record_dmarc(self, rows: Sequence[DmarcEvaluation]) -> None:
        """Count evaluations in one transaction: identical rows (same day, policy domain and
        every field) become one stored row whose count grows."""
        ...

    def dmarc_rows(self, policy_domain: str, day: str) -> list[tuple[DmarcEvaluation, int]]:
        """The day's distinct evaluations for a policy domain with their counts, in a stable
        order (source IP, header from, then the rest)."""
        ...

    def dmarc_report_domains(self, day: str) -> list[str]: ...  # policy domains with rows


def iter_message_bytes(blobs: BlobStore, msg: StoredMessage) -> Iterator[bytes]:
    """The full stored message: Roost's prefix lines, then the body as received."""
    yield msg.prefix
    yield blobs.get(msg.blob)
