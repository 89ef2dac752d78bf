"""compute_structure: FETCH ENVELOPE, BODY (no extension data) and BODYSTRUCTURE wire bytes."""

from __future__ import annotations

from roost.message.wire import compute_structure

MIXED = (
    b"From: A <a@x.org>\r\nTo: b@y.org\r\nSubject: hi\r\n"
    b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n"
    b"--zz\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
    b"--zz\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nbody\r\n--zz--\r\n"
)


def test_multipart_with_nested_message() -> None:
    s = compute_structure(MIXED)
    assert s.envelope == (
        b'(NIL "hi" (("A" NIL "a" "x.org")) (("A" NIL "a" "x.org")) (("A" NIL "a" "x.org"))'
        b' ((NIL NIL "b" "y.org")) NIL NIL NIL NIL)'
    )
    # RFC 9051 §7.5.2 BODY: no extension data at any level, nested message included
    assert s.body == (
        b'(("text" "plain" NIL NIL NIL "7bit" 5 1) ("message" "rfc822" NIL NIL NIL "7bit" 19'
        b' (NIL "in" NIL NIL NIL NIL NIL NIL NIL NIL)'
        b' ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 4 1) 3) "mixed")'
    )
    assert s.bodystructure == (
        b'(("text" "plain" NIL NIL NIL "7bit" 5 1 NIL NIL NIL NIL) ("message" "rfc822" NIL NIL'
        b' NIL "7bit" 19 (NIL "in" NIL NIL NIL NIL NIL NIL NIL NIL) ("text" "plain"'
        b' ("charset" "us-ascii") NIL NIL "7bit" 4 1 NIL NIL NIL NIL) 3 NIL NIL NIL NIL)'
        b' "mixed" ("boundary" "zz") NIL NIL NIL)'
    )


def test_prefix_lines_change_nothing_but_are_not_part_of_the_blob() -> None:
    """The structure is keyed by blob: Roost's Received/Delivered-To prefix adds header lines
    only, which change neither ENVELOPE nor BODYSTRUCTURE."""
    prefix = b"Delivered-To: b@y.org\r\nReceived: from x by y; date\r\n"
    with_prefix, blob = compute_structure(prefix + MIXED), compute_structure(MIXED)
    assert (with_prefix.envelope, with_prefix.body, with_prefix.bodystructure) == (
        blob.envelope, blob.body, blob.bodystructure,
    )  # fmt: skip
    # The kept header block is the blob's: a reader puts the row's prefix in front.
    assert blob.header is not None
    assert MIXED.startswith(blob.header)
    assert with_prefix.header == prefix + blob.header


def test_garbage_still_gives_a_structure() -> None:
    s = compute_structure(b"\x00\xff no header at all")
    assert s.body.startswith(b'("text" "plain"')
    assert s.bodystructure.startswith(s.body[:-1])
