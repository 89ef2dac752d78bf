"""Domains, users and aliases: the directory that RCPT checks and logins read.

Every change bumps `meta.directory_serial` in the same transaction, so a server polling the
serial reloads exactly when something changed and never sees half of a change.
"""

from __future__ import annotations

from collections.abc import Sequence

from roost.store._base import SqlBase, Tx
from roost.store.common import (
    domain_of,
    normalize_alias_source,
    normalize_domain,
    normalize_email,
    not_local_error,
)
from roost.store.interface import AlreadyExists, NotFound, StoreError
from roost.store.types import DEFAULT_MAILBOXES, Alias, Directory, User

_BUMP_SERIAL = (
    "UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) WHERE key = 'directory_serial'"
)


class DirectoryMixin(SqlBase):
    # --- domains ---------------------------------------------------------------------------
    def add_domain(self, name: str) -> None:
        domain = normalize_domain(name)
        with self._write() as tx:
            if tx.one("SELECT 1 FROM domains WHERE name = ?", (domain,)):
                raise AlreadyExists(f"domain {domain} already exists")
            tx.execute(
                "INSERT INTO domains (name, created_at) VALUES (?, ?)",
                (domain, self._ts_in(self.now())),
            )
            tx.execute(_BUMP_SERIAL)

    def remove_domain(self, name: str) -> None:
        """Refuses while users or aliases live in the domain: removing it must not drop mail."""
        domain = normalize_domain(name)
        with self._write() as tx:
            if not tx.one("SELECT 1 FROM domains WHERE name = ?", (domain,)):
                raise NotFound(f"domain {domain} does not exist")
            self._check_domain_empty(tx, domain)
            tx.execute("DELETE FROM domains WHERE name = ?", (domain,))
            tx.execute(_BUMP_SERIAL)

    @staticmethod
    def _check_domain_empty(tx: Tx, domain: str) -> None:
        users = _count(tx, "SELECT COUNT(*) FROM users WHERE domain = ?", domain)
        aliases = _count(tx, "SELECT COUNT(DISTINCT source) FROM aliases WHERE domain = ?", domain)
        if users or aliases:
            raise StoreError(
                f"domain {domain} still has {users} user(s) and {aliases} alias(es); "
                "remove them first (`roost user remove`, `roost alias remove`)"
            )

    def list_domains(self) -> list[str]:
        with self._read() as tx:
            return [r[0] for r in tx.all("SELECT name FROM domains ORDER BY name")]

    # --- users -----------------------------------------------------------------------------
    def add_user(self, email: str, password_hash: str) -> None:
        """The user and their DEFAULT_MAILBOXES appear together, in one transaction."""
        address = normalize_email(email)
        now = self.now()
        with self._write() as tx:
            _require_local(tx, domain_of(address))
            if tx.one("SELECT 1 FROM users WHERE email = ?", (address,)):
                raise AlreadyExists(f"user {address} already exists")
            tx.execute(
                "INSERT INTO users (email, domain, password_hash, created_at) VALUES (?, ?, ?, ?)",
                (address, domain_of(address), password_hash, self._ts_in(now)),
            )
            first = self._reserve_uidvalidity(tx, len(DEFAULT_MAILBOXES))
            self._create_default_mailboxes(tx, address, first)
            tx.execute(_BUMP_SERIAL)

    @staticmethod
    def _create_default_mailboxes(tx: Tx, user: str, base_validity: int) -> None:
        # RFC 9051 §2.3.1.1: UIDVALIDITY must change if a mailbox is recreated with reused UIDs;
        # the values come from the store-wide floor (_reserve_uidvalidity), one per mailbox.
        tx.executemany(
            "INSERT INTO mailboxes (user_email, name, uidvalidity, uidnext, highestmodseq,"
            " subscribed) VALUES (?, ?, ?, 1, 1, ?)",
            [(user, name, base_validity + i, True) for i, name in enumerate(DEFAULT_MAILBOXES)],
        )

    def remove_user(self, email: str) -> None:
        """Mailboxes and messages go with the user (ON DELETE CASCADE)."""
        address = normalize_email(email)
        with self._write() as tx:
            # Mailbox rows first, in the order deliveries lock them (mailbox, then the users
            # row through the usage triggers), so this cannot deadlock with a delivery.
            tx.all(
                "SELECT id FROM mailboxes WHERE user_email = ? ORDER BY name" + self.for_update,
                (address,),
            )
            if not tx.execute("DELETE FROM users WHERE email = ?", (address,)):
                raise NotFound(f"user {address} does not exist")
            tx.execute(_BUMP_SERIAL)

    def set_password(self, email: str, password_hash: str) -> None:
        address = normalize_email(email)
        with self._write() as tx:
            changed = tx.execute(
                "UPDATE users SET password_hash = ? WHERE email = ?", (password_hash, address)
            )
            if not changed:
                raise NotFound(f"user {address} does not exist")
            tx.execute(_BUMP_SERIAL)

    def get_user(self, email: str) -> User | None:
        address = normalize_email(email)
        with self._read() as tx:
            row = tx.one(
                "SELECT email, password_hash, created_at FROM users WHERE email = ?", (address,)
            )
        return None if row is None else User(row[0], row[1], self._ts_out(row[2]))

    def list_users(self) -> list[User]:
        with self._read() as tx:
            return self._users(tx)

    def _users(self, tx: Tx) -> list[User]:
        rows = tx.all("SELECT email, password_hash, created_at FROM users ORDER BY email")
        return [User(r[0], r[1], self._ts_out(r[2])) for r in rows]

    # --- aliases ---------------------------------------------------------------------------
    def add_alias(self, source: str, targets: Sequence[str]) -> None:
        """Adds targets to the alias (creating it); targets already present are kept once."""
        src = normalize_alias_source(source)
        wanted = sorted({normalize_email(t) for t in targets})
        if not wanted:
            raise StoreError(f"alias {src} needs at least one target address")
        with self._write() as tx:
            _require_local(tx, domain_of(src))
            existing = {r[0] for r in tx.all("SELECT target FROM aliases WHERE source = ?", (src,))}
            new = [(src, t, domain_of(src)) for t in wanted if t not in existing]
            if new:  # re-adding known targets changes nothing, so the serial stays put
                tx.executemany("INSERT INTO aliases (source, target, domain) VALUES (?, ?, ?)", new)
                tx.execute(_BUMP_SERIAL)

    def remove_alias(self, source: str) -> None:
        src = normalize_alias_source(source)
        with self._write() as tx:
            if not tx.execute("DELETE FROM aliases WHERE source = ?", (src,)):
                raise NotFound(f"alias {src} does not exist")
            tx.execute(_BUMP_SERIAL)

    def list_aliases(self) -> list[Alias]:
        with self._read() as tx:
            return [Alias(src, targets) for src, targets in self._aliases(tx).items()]

    @staticmethod
    def _aliases(tx: Tx) -> dict[str, tuple[str, ...]]:
        grouped: dict[str, list[str]] = {}
        for source, target in tx.all("SELECT source, target FROM aliases ORDER BY source, target"):
            grouped.setdefault(source, []).append(target)
        return {source: tuple(targets) for source, targets in grouped.items()}

    # --- snapshot --------------------------------------------------------------------------
    def directory_serial(self) -> int:
        with self._read() as tx:
            return _serial(tx)

    def load_directory(self) -> Directory:
        """Everything in one read transaction, so serial and contents always match."""
        with self._read() as tx:
            serial = _serial(tx)
            domains = frozenset(r[0] for r in tx.all("SELECT name FROM domains"))
            users = {u.email: u for u in self._users(tx)}
            aliases = self._aliases(tx)
        return Directory(serial, domains, users, aliases)


def _serial(tx: Tx) -> int:
    row = tx.one("SELECT value FROM meta WHERE key = 'directory_serial'")
    return int(row[0]) if row else 0


def _count(tx: Tx, sql: str, value: str) -> int:
    row = tx.one(sql, (value,))
    return int(row[0]) if row else 0


def _require_local(tx: Tx, domain: str) -> None:
    if not tx.one("SELECT 1 FROM domains WHERE name = ?", (domain,)):
        raise not_local_error(domain)
