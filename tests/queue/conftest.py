"""Store fixtures (both backends) for the tests here that need a real store."""

from tests.store.conftest import blobs, local_store, store  # noqa: F401
