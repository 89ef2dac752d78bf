"""The DNS tests run against the real loopback server from tests/dnsserver.py."""

from tests.dnsserver import dns_server  # noqa: F401
