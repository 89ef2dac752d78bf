"""Blob stores: content-addressed message bodies (files, and the tiered file + database store)."""

from roost.store.blobs.fs import FileBlobStore, check_digest
from roost.store.blobs.tiered import TieredBlobStore

__all__ = ["FileBlobStore", "TieredBlobStore", "check_digest"]
