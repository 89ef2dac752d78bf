"""The wire form of FETCH ENVELOPE, BODY and BODYSTRUCTURE for one message, computed once.

Stored by blob digest at delivery, APPEND and import (store.put_structures), so a FETCH of these
items reads three byte strings instead of parsing the message. Roost's prefix lines
(Return-Path, Delivered-To, Received) are not part of the blob and change neither the envelope
(no such field) nor the body structure (header lines only add to the top-level header), so one
row serves every copy. The blob's header block is kept too (up to HEADER_CAP octets), so
header FETCH and SEARCH over a mailbox read one column instead of the bodies.
"""

from __future__ import annotations

from roost.imap.encode import encode_value
from roost.imap.render import header_end
from roost.message.structure import body_structure, envelope, to_imap, to_imap_basic
from roost.store.types import MessageStructure

HEADER_CAP = 16 * 1024  # longer header blocks are not kept: readers read the body


def header_block(body: bytes) -> bytes:
    """The header block to keep for `body` (BODY[HEADER] of the blob); b"" past HEADER_CAP."""
    end = header_end(body)
    return body[:end] if end <= HEADER_CAP else b""


def compute_structure(body: bytes) -> MessageStructure:
    """Parse `body` (the blob: the message as received) once; CPU-bound, run it off the loop."""
    tree = body_structure(body)
    return MessageStructure(
        envelope=encode_value(to_imap(envelope(body))),
        body=encode_value(to_imap_basic(tree)),
        bodystructure=encode_value(to_imap(tree)),
        header=header_block(body),
    )
