"""IMAP4rev2 (RFC 9051, compatible with IMAP4rev1 RFC 3501): sans-I/O command reader and
response encoder. Other packages import only from here.
"""

from roost.imap import commands, fetch, search
from roost.imap.events import (
    NEED_DATA,
    Closed,
    Done,
    NeedContinuation,
    NeedData,
    ParseError,
    SaslResponse,
)
from roost.imap.mutf7 import MUtf7Error, decode_mutf7, encode_mutf7
from roost.imap.parser import CommandReader, Result, parse_command
from roost.imap.sequence import SequenceSet, SequenceSetError

__all__ = [
    "NEED_DATA",
    "Closed",
    "CommandReader",
    "Done",
    "MUtf7Error",
    "NeedContinuation",
    "NeedData",
    "ParseError",
    "Result",
    "SaslResponse",
    "SequenceSet",
    "SequenceSetError",
    "commands",
    "decode_mutf7",
    "encode_mutf7",
    "fetch",
    "parse_command",
    "search",
]
