"""The Store implementation shared by both SQL backends, assembled from its families.

A backend subclasses `SqlStore` and supplies transactions, dialect conversions and migration
locking; every Store method (inline blob rows included) is written once, so the two backends
cannot drift apart.
"""

from __future__ import annotations

from roost.store._attempts import AttemptsMixin
from roost.store._base import SqlBase, Tx
from roost.store._blobrows import BlobRowsMixin
from roost.store._directory import DirectoryMixin
from roost.store._dmarc import DmarcMixin
from roost.store._greylist import GreylistMixin
from roost.store._imapops import ImapOpsMixin
from roost.store._imapreads import ImapReadsMixin
from roost.store._leasing import LeasingMixin
from roost.store._mailstore import MailMixin
from roost.store._quota import QuotaMixin
from roost.store._structures import StructuresMixin
from roost.store._suppression import SuppressionMixin
from roost.store._tlsrpt import TlsReportMixin


class SqlStore(
    DirectoryMixin,
    LeasingMixin,  # and the queue (intake, operator actions, reads) it builds on
    AttemptsMixin,
    SuppressionMixin,
    TlsReportMixin,
    ImapOpsMixin,  # and the reads (MailMixin) it builds on
    ImapReadsMixin,
    MailMixin,
    BlobRowsMixin,
    StructuresMixin,
    QuotaMixin,
    GreylistMixin,
    DmarcMixin,
    SqlBase,
):
    """interface.Store over SQL; see roost.store.interface for the contract of each method."""

    def schema_version(self) -> int:
        with self._read() as tx:
            return read_schema_version(tx)


def read_schema_version(tx: Tx) -> int:
    """The version recorded in meta, for a database that has a meta table."""
    row = tx.one("SELECT value FROM meta WHERE key = 'schema_version'")
    return int(row[0]) if row else 0
