"""The test DNS server itself: both transports answer, and stop() leaves nothing running."""

from __future__ import annotations

from dnslib import QTYPE, RCODE, DNSRecord

from tests.dnsserver import DnsTestServer


def _ask(server: DnsTestServer, name: str, rtype: str, *, tcp: bool) -> DNSRecord:
    query = DNSRecord.question(name, rtype)
    return DNSRecord.parse(query.send("127.0.0.1", server.port, tcp=tcp, timeout=2))


def test_udp_and_tcp_answer_on_the_same_port() -> None:
    with DnsTestServer({"a.test": {"A": ["192.0.2.1"], "TXT": [""]}}) as server:
        for tcp in (False, True):
            reply = _ask(server, "A.test", "A", tcp=tcp)
            assert [str(rr.rdata) for rr in reply.rr] == ["192.0.2.1"]
        assert _ask(server, "a.test", "TXT", tcp=False).rr[0].rdata.data == [b""]
        assert _ask(server, "b.test", "A", tcp=True).header.rcode == RCODE.NXDOMAIN
        nodata = _ask(server, "a.test", "MX", tcp=False)
        assert (nodata.header.rcode, nodata.rr) == (RCODE.NOERROR, [])
        assert nodata.auth[0].rtype == QTYPE.SOA
        assert server.queries("a.test") == 4
        threads = list(server._threads)
    assert threads
    assert not any(t.is_alive() for t in threads)
