"""Auth tests share the loopback DNS server fixture."""

from tests.dnsserver import dns_server  # noqa: F401
