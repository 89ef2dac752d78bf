"""Blob stores: content-addressed message bodies."""

from roost.store.blobs.fs import FileBlobStore, check_digest

__all__ = ["FileBlobStore", "check_digest"]
