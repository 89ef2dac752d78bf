"""Policy fixtures: the loopback DNS server, and a runner for coroutines in sync tests."""

from __future__ import annotations

from tests.dnsserver import dns_server  # noqa: F401
