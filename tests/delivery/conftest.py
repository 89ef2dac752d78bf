"""Fixtures for outbound-delivery tests: fast timeouts and a server TLS context made once."""

from __future__ import annotations

import ssl

import pytest

from roost.delivery.smtp_session import Timeouts
from tests.delivery.servers import server_tls_context

# Small enough that a hung test fails fast, large enough for a loaded CI machine.
FAST = Timeouts(
    initial=10, mail=10, rcpt=10, data_init=10, data_block=10, data_done=10, connect=10, quit=5
)


@pytest.fixture(scope="session")
def tls_server_context() -> ssl.SSLContext:
    """A STARTTLS context with a self-signed certificate for mx.test.example."""
    return server_tls_context()


@pytest.fixture
def fast() -> Timeouts:
    return FAST
