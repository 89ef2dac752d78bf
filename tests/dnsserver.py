"""A real, loopback DNS server for tests (UDP and TCP), serving zones given as Python data.

Tests that need DNS talk to this server through Roost's real resolver instead of patching
dnspython, so the wire format, TCP fallback, TTLs and error codes are all exercised for real.

Zones are a mapping of owner name -> {record type -> list of values}::

    {
        "example.test": {"MX": [(10, "mx1.example.test")], "TXT": ["v=spf1 -all"]},
        "mx1.example.test": {"A": ["127.0.0.2"], "AAAA": ["::1"]},
    }

Value shapes: A/AAAA/CNAME/PTR/NS: a string; MX: ``(preference, host)``; TXT and SPF (type 99,
same rdata as TXT): a str/bytes (one character-string, split into 255-byte chunks when longer)
or a list/tuple of them (several character-strings in one record; an empty list is a record
with no strings at all, malformed on the wire). Unknown names answer NXDOMAIN, known names without
the type answer NOERROR with no records; both carry an SOA (minimum = ``negative_ttl``) so
resolvers can cache them per RFC 2308 (``negative_ttl=None`` leaves the SOA out).
``servfail(name)`` answers SERVFAIL for a name; ``drop(name)`` never answers (the client times
out), optionally except for some record types.

Use it from another test package by importing the fixture into that package's conftest::

    from tests.dnsserver import dns_server  # noqa: F401

or with ``pytest_plugins = ["tests.dnsserver"]`` in the top-level conftest. The fixture yields a
started :class:`DnsTestServer` with no zones; fill it with ``server.zones = {...}`` or
``server.set(name, rtype, values)`` and point Roost at ``server.config()``.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
from dnslib import AAAA, CNAME, MX, NS, PTR, QTYPE, RCODE, RR, SOA, TXT, A, DNSHeader, DNSRecord

from roost.config.model import DnsConfig

Zones = Mapping[str, Mapping[str, Sequence[Any]]]

_UDP_PLAIN_LIMIT = 512  # RFC 1035 §4.2.1, without EDNS
_POLL = 0.05  # how often the serving threads check for stop; bounds stop() latency


def _norm(name: str) -> str:
    """Owner names compare case-insensitively and with or without the root dot."""
    return name.lower().rstrip(".")


def _txt(value: Any) -> TXT:
    """Build one TXT record; a long string becomes several 255-byte character-strings."""
    parts = value if isinstance(value, list | tuple) else [value]
    chunks: list[bytes] = []
    for part in parts:
        raw = part.encode() if isinstance(part, str) else bytes(part)
        chunks.extend(raw[i : i + 255] for i in range(0, len(raw), 255))
        if not raw:
            chunks.append(b"")  # an empty character-string is still one string
    return TXT(chunks)


def _rdata(rtype: str, value: Any) -> Any:
    """Turn the Python shape of one record into dnslib rdata."""
    simple = {"A": A, "AAAA": AAAA, "CNAME": CNAME, "PTR": PTR, "NS": NS}
    if rtype in simple:
        return simple[rtype](value)
    if rtype == "MX":
        preference, host = value
        return MX(host or ".", preference)
    if rtype in ("TXT", "SPF"):
        return _txt(value)
    raise ValueError(f"test DNS server does not serve {rtype} records")


class DnsTestServer:
    """Authoritative-looking DNS server on 127.0.0.1 (same ephemeral port for UDP and TCP).

    Two daemon threads (one UDP, one TCP; TCP connections are served one at a time), so the
    thread count is bounded; ``stop()`` joins them. Every method is thread-safe.
    """

    def __init__(
        self, zones: Zones | None = None, *, ttl: int = 300, negative_ttl: int | None = 60
    ) -> None:
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.authentic = False  # set the AD bit on answers (to test DNSSEC plumbing)
        self._lock = threading.Lock()
        self._zones: dict[str, dict[str, list[Any]]] = {}
        self._servfail: set[str] = set()
        self._dropped: dict[str, frozenset[str]] = {}  # name -> record types still answered
        self._queries: Counter[tuple[str, str]] = Counter()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._udp, self._tcp = self._bind()
        self.zones = zones or {}

    # -- data ---------------------------------------------------------------------------------

    @property
    def zones(self) -> dict[str, dict[str, list[Any]]]:
        """A copy of the served data (mutating it does nothing; use the setters)."""
        with self._lock:
            return {
                name: {t: list(v) for t, v in recs.items()} for name, recs in self._zones.items()
            }

    @zones.setter
    def zones(self, zones: Zones) -> None:
        with self._lock:
            self._zones = {
                _norm(n): {t.upper(): list(v) for t, v in r.items()} for n, r in zones.items()
            }

    def set(self, name: str, rtype: str, values: Sequence[Any]) -> None:
        """Replace one RRset at runtime (an empty list makes the name exist with no records)."""
        with self._lock:
            self._zones.setdefault(_norm(name), {})[rtype.upper()] = list(values)

    def remove(self, name: str) -> None:
        """Delete a name so it answers NXDOMAIN."""
        with self._lock:
            self._zones.pop(_norm(name), None)

    def servfail(self, name: str, enabled: bool = True) -> None:
        """Make every query for ``name`` answer SERVFAIL (or stop doing so)."""
        with self._lock:
            (self._servfail.add if enabled else self._servfail.discard)(_norm(name))

    def drop(self, name: str, enabled: bool = True, *, keep: Sequence[str] = ()) -> None:
        """Never answer queries for ``name`` (a timeout), except those for the types in ``keep``."""
        with self._lock:
            if enabled:
                self._dropped[_norm(name)] = frozenset(t.upper() for t in keep)
            else:
                self._dropped.pop(_norm(name), None)

    def reset(self) -> None:
        """Forget all zones, SERVFAIL/drop settings and query counts (reuse between tests)."""
        with self._lock:
            self._zones = {}
            self._servfail.clear()
            self._dropped.clear()
            self._queries.clear()

    def queries(self, name: str | None = None, rtype: str | None = None) -> int:
        """How many queries arrived, optionally only for one name and/or type."""
        with self._lock:
            return sum(
                n
                for (qname, qtype), n in self._queries.items()
                if (name is None or qname == _norm(name)) and (rtype is None or qtype == rtype)
            )

    # -- addressing -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._udp.getsockname()[1])

    @property
    def address(self) -> str:
        """``host:port`` in the form DnsConfig.nameservers takes."""
        return f"127.0.0.1:{self.port}"

    def config(self, timeout: float = 2.0) -> DnsConfig:
        return DnsConfig(nameservers=[self.address], timeout=timeout)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> DnsTestServer:
        for target in (self._serve_udp, self._serve_tcp):
            thread = threading.Thread(
                target=target, name=f"dns-test-{target.__name__}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        self._udp.close()
        self._tcp.close()

    def __enter__(self) -> DnsTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @staticmethod
    def _bind() -> tuple[socket.socket, socket.socket]:
        """UDP on an ephemeral port, then TCP on the same number (retry if it is taken)."""
        for _ in range(50):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind(("127.0.0.1", 0))
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                tcp.bind(("127.0.0.1", udp.getsockname()[1]))
            except OSError:
                udp.close()
                tcp.close()
                continue
            tcp.listen(16)
            return udp, tcp
        raise RuntimeError("no free port for the test DNS server")

    # -- serving ---------------------------------------------------------------------------------

    def _serve_udp(self) -> None:
        while not self._stop.is_set():
            if not select.select([self._udp], [], [], _POLL)[0]:
                continue
            try:
                data, peer = self._udp.recvfrom(65535)
            except OSError:
                return
            reply = self._reply_bytes(data, udp=True)
            if reply is not None:
                self._udp.sendto(reply, peer)

    def _serve_tcp(self) -> None:
        while not self._stop.is_set():
            if not select.select([self._tcp], [], [], _POLL)[0]:
                continue
            try:
                conn, _ = self._tcp.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    self._serve_tcp_conn(conn)

    def _serve_tcp_conn(self, conn: socket.socket) -> None:
        """RFC 1035 §4.2.2 framing: two-byte length, then the message; several per connection."""
        while not self._stop.is_set():
            head = _recv_exact(conn, 2)
            if head is None:
                return
            data = _recv_exact(conn, struct.unpack("!H", head)[0])
            if data is None:
                return
            reply = self._reply_bytes(data, udp=False)
            if reply is not None:
                conn.sendall(struct.pack("!H", len(reply)) + reply)

    def _reply_bytes(self, data: bytes, *, udp: bool) -> bytes | None:
        try:
            request = DNSRecord.parse(data)
        except Exception:  # garbage on the wire: a real server drops it too
            return None
        reply = self.answer(request)
        if reply is None:
            return None
        packed = bytes(reply.pack())
        if udp and len(packed) > _udp_limit(request):
            packed = bytes(_truncated(reply).pack())
        return packed

    def answer(self, request: DNSRecord) -> DNSRecord | None:
        """Build the response for one request (public so tests can inspect it directly).

        ``None`` means no answer at all (the name was given to :meth:`drop`).
        """
        reply = request.reply()
        reply.header.aa = 1
        reply.header.ad = 1 if self.authentic else 0
        qname, qtype = _qname(request), QTYPE[request.q.qtype]
        with self._lock:
            self._queries[(qname, qtype)] += 1
            keep = self._dropped.get(qname)
            if keep is not None and qtype not in keep:
                return None
            if qname in self._servfail:
                reply.header.rcode = RCODE.SERVFAIL
                reply.header.ad = 0
                return reply
            self._fill(reply, qname, qtype)
        return reply

    def _fill(self, reply: DNSRecord, qname: str, qtype: str) -> None:
        """Answer from the zones, following CNAMEs inside them; caller holds the lock."""
        name = qname
        for _ in range(8):
            records = self._zones.get(name)
            if records is None:
                reply.header.rcode = RCODE.NXDOMAIN
                break
            if qtype != "CNAME" and records.get("CNAME"):
                target = str(records["CNAME"][0])
                reply.add_answer(RR(name, QTYPE.CNAME, rdata=CNAME(target), ttl=self.ttl))
                name = _norm(target)
                continue
            for value in records.get(qtype, []):
                rdata = _rdata(qtype, value)
                reply.add_answer(RR(name, getattr(QTYPE, qtype), rdata=rdata, ttl=self.ttl))
            break
        if not reply.rr or reply.header.rcode == RCODE.NXDOMAIN:
            self._add_soa(reply, name)

    def _add_soa(self, reply: DNSRecord, name: str) -> None:
        """Negative answers carry the zone's SOA so the negative TTL is known (RFC 2308 §3)."""
        if self.negative_ttl is None:
            return
        apex = name.rsplit(".", 1)[-1] or "test"
        times = (1, 3600, 600, 86400, self.negative_ttl)
        soa = SOA(f"ns.{apex}", f"hostmaster.{apex}", times)
        reply.add_auth(RR(apex, QTYPE.SOA, rdata=soa, ttl=self.negative_ttl))


def _qname(request: DNSRecord) -> str:
    """The question name from its raw labels (``str()`` would escape spaces as ``\\032``)."""
    labels = request.q.qname.label
    return _norm(".".join(bytes(label).decode("utf-8", "replace") for label in labels))


def _udp_limit(request: DNSRecord) -> int:
    """The requester's EDNS payload size (RFC 6891 §6.2.3) or the classic 512 bytes."""
    for rr in request.ar:
        if rr.rtype == QTYPE.OPT:
            return max(_UDP_PLAIN_LIMIT, int(rr.rclass))
    return _UDP_PLAIN_LIMIT


def _truncated(reply: DNSRecord) -> DNSRecord:
    """TC=1 with the question kept, so the client retries over TCP (RFC 7766 §5)."""
    header = DNSHeader(id=reply.header.id, bitmap=reply.header.bitmap, q=1)
    header.tc = 1
    return DNSRecord(header, q=reply.q)


def _recv_exact(conn: socket.socket, size: int) -> bytes | None:
    buf = b""
    while len(buf) < size:
        chunk = conn.recv(size - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


@contextlib.contextmanager
def blackhole_udp() -> Iterator[str]:
    """A bound UDP socket that never answers: ``host:port`` of a nameserver that times out."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@pytest.fixture
def dns_server() -> Iterator[DnsTestServer]:
    """A started, empty test DNS server; stopped after the test."""
    with DnsTestServer() as server:
        yield server
