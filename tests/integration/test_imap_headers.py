"""Header FETCH and SEARCH served from the kept header blocks (schema 8) answer exactly as the
general path that reads the message bytes, on both backends: for messages whose header block is
kept, too long to keep, kept before schema 8 (filled on first read) or without any structure."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import replace

from roost.message.wire import compute_structure, header_block
from roost.store.types import BlobRef
from tests.integration.harness import ALICE, RunningServer
from tests.integration.imap_helpers import RawImap, deliver, status_of

WHEN = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
FILLER = b"".join(b"X-Filler-%d: %s\r\n" % (n, b"y" * 70) for n in range(300))  # > 16 KiB
BLOBS = [
    b"From: Carol <carol@example.com>\r\nTo: bob@x,\r\n carol@y\r\nSubject: hi\r\n\r\nbody\r\n",
    b"from : CAROL\nsubject:\tbare LF\n\nbody carol\n",
    b"Subject: =?utf-8?q?Caf=C3=A9?= carol\r\nFrom: =?utf-8?q?Car=C3=B6l?= <c@x>\r\n\r\nx",
    b"From: carol\r\n" + FILLER + b"Subject: at the end\r\n\r\nbody\r\n",
    b"Subject: no blank line\r\nFrom: carol",
    b"\r\nFrom: only body\r\n",
    b"Message-ID: <m@x>\r\nFrom: Dave\r\n <dave@x>\r\nDate: Tue, 4 Mar 2025 10:00:00 +0000\r\n\r\n",
]
FETCHES = [
    "BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)]",
    "UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS.NOT (RECEIVED X-FILLER-3)] RFC822.HEADER",
    "BODY.PEEK[HEADER]<5.40> MODSEQ BODY.PEEK[HEADER.FIELDS (subject)]<2.7>",
]
SEARCHES = [
    'FROM "carol"',
    'FROM "CAROL"',
    "CHARSET UTF-8 SUBJECT {5+}\r\ncafé",
    'TO "bob@x, carol"',
    'FROM "dave <dave"',
    'SUBJECT "at the end"',
    "OR FROM dave NOT SUBJECT hi",
    'HEADER Message-ID ""',
    "SEEN FROM c",
    'SENTSINCE 1-Jan-2025 FROM "d"',
    "FROM carol UID 2:*",
    'FROM "received"',
    "FROM notthere",
]
_INTERNALDATE = re.compile(rb' INTERNALDATE "[^"]*"')


def _store(server: RunningServer, blob: bytes, kind: int) -> None:
    ref = BlobRef(hashlib.sha256(blob).hexdigest(), len(blob))
    structure = compute_structure(blob)
    if kind == 1:
        structure = replace(structure, header=None)  # kept before schema 8
    flags = frozenset(["\\Seen"] if kind == 0 else [])
    server.store.append_message(ALICE, "INBOX", ref, blob, flags, WHEN,
                                structure=None if kind == 2 else structure)  # fmt: skip


def test_header_fetch_and_search_equal_the_general_path(server: RunningServer) -> None:
    deliver(server, "delivered carol")  # a message with a prefix (Received, ...)
    for kind in range(3):
        for blob in BLOBS:
            _store(server, blob + b"\r\n" * kind, kind)
    raw = RawImap(server)
    raw.command("SELECT INBOX")
    for items in FETCHES:
        fast = raw.command(f"FETCH 1:* ({items})")
        # INTERNALDATE is not in a header row: the same items then take the general path.
        slow = raw.command(f"FETCH 1:* ({items} INTERNALDATE)")
        assert status_of(fast) == status_of(slow) == b"OK"
        assert len(fast) == 2 + 3 * len(BLOBS)
        assert fast[:-1] == [_INTERNALDATE.sub(b"", line) for line in slow[:-1]], items
    for text in SEARCHES:
        fast = raw.command(f"UID SEARCH {text}".encode())
        slow = raw.command(f"UID SEARCH {text} SINCE 1-Jan-1990".encode())  # internal date
        assert status_of(fast) == b"OK", text
        assert fast[:-1] == slow[:-1], text
    assert b" 1 " in raw.command('UID SEARCH FROM "carol"')[0] + b" "
    # A word found only in the prefix (Return-Path): the message is still judged.
    assert raw.command('UID SEARCH HEADER Return-Path "carol"')[0] == b"* SEARCH 1\r\n"
    raw.close()
    # Reading the rows kept before schema 8 filled their header in.
    digests = [hashlib.sha256(b + b"\r\n").hexdigest() for b in BLOBS]
    kept = server.store.get_structures(digests)
    for blob, digest in zip(BLOBS, digests, strict=True):
        expected = header_block(blob + b"\r\n")
        assert kept[digest].header == (expected or None)


def test_an_empty_message_has_an_empty_header(server: RunningServer) -> None:
    for kind in range(3):
        _store(server, b"", kind)
    raw = RawImap(server)
    raw.command("SELECT INBOX")
    lines = raw.command("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (FROM)] BODY.PEEK[HEADER])")
    assert lines[:-1] == [
        b"* %d FETCH (BODY[HEADER.FIELDS (FROM)] {2}\r\n\r\n BODY[HEADER] {0}\r\n)\r\n" % n
        for n in (1, 2, 3)
    ]
    assert raw.command('SEARCH FROM ""')[0] == b"* SEARCH\r\n"
    raw.close()
