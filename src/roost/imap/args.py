"""Per-command argument parsing (RFC 9051 §6 and the extensions it lists), no state.

`parse_arguments(cur, tag, name, uid)` is called with the cursor just after the command name;
each family's function consumes the rest and returns its typed command.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable

from roost.imap import commands as c
from roost.imap.fetch import parse_fetch_items
from roost.imap.grammar import MAX_NUMBER64, BadSyntax, Cursor
from roost.imap.search import parse_search_keys

SIMPLE = frozenset(
    [
        "CAPABILITY",
        "NOOP",
        "LOGOUT",
        "STARTTLS",
        "NAMESPACE",
        "IDLE",
        "CHECK",
        "CLOSE",
        "UNSELECT",
        "EXPUNGE",
    ]
)
ONE_MAILBOX = frozenset(["CREATE", "DELETE", "SUBSCRIBE", "UNSUBSCRIBE", "GETQUOTAROOT"])
UID_COMMANDS = frozenset(["FETCH", "STORE", "COPY", "MOVE", "SEARCH", "EXPUNGE"])
ESEARCH_RETURNS = frozenset(["MIN", "MAX", "ALL", "COUNT", "SAVE"])

Parser = Callable[[Cursor, str, str], c.Command]


def parse_arguments(cur: Cursor, tag: str, name: str, uid: bool) -> c.Command:
    """Parse the arguments of `name` (upper-cased); `uid` for the UID-prefixed forms."""
    if uid:
        return _UID_PARSERS[name](cur, tag, name)
    if name in SIMPLE:
        cur.finish()
        return c.Simple(tag, name)
    if name in ONE_MAILBOX:
        return _one_mailbox(cur, tag, name)
    parser = _PARSERS.get(name)
    if parser is None:
        raise BadSyntax(f"unknown command {name}")
    return parser(cur, tag, name)


def _one_mailbox(cur: Cursor, tag: str, name: str) -> c.Command:
    cur.sp()
    mailbox = cur.mailbox()
    uses: tuple[str, ...] = ()
    if name == "CREATE" and not cur.at_end():
        cur.sp()  # RFC 6154 §3 create-param: (USE (flags))
        cur.expect(b"(")
        cur.expect(b"USE ", "USE")
        uses = cur.flag_list()
        cur.expect(b")")
    cur.finish()
    return c.MailboxCommand(tag, name, mailbox, uses)


def _login(cur: Cursor, tag: str, name: str) -> c.Command:
    cur.sp()
    user = cur.astring()
    cur.sp()
    password = cur.astring()
    cur.finish()
    return c.Login(tag, name, user, password)


def _authenticate(cur: Cursor, tag: str, name: str) -> c.Command:
    cur.sp()
    mechanism = cur.atom().upper()
    initial: bytes | None = None
    if not cur.at_end():
        cur.sp()
        initial = decode_sasl(cur.atom())
    cur.finish()
    return c.Authenticate(tag, name, mechanism, initial)


def decode_sasl(text: str) -> bytes:
    """RFC 4959 §3: "=" is an empty initial response; anything else is base64."""
    if text == "=":
        return b""
    try:
        return binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        raise BadSyntax("bad base64") from None


def _enable(cur: Cursor, tag: str, name: str) -> c.Command:
    caps: list[str] = []
    while not cur.at_end():
        cur.sp()
        caps.append(cur.atom().upper())
    if not caps:
        raise BadSyntax("ENABLE needs a capability")
    return c.Enable(tag, name, tuple(caps))


def _select(cur: Cursor, tag: str, name: str) -> c.Command:
    cur.sp()
    mailbox = cur.mailbox()
    condstore = False
    qresync: c.QResync | None = None
    if not cur.at_end():
        cur.sp()
        cur.expect(b"(")
        while True:
            if cur.take_word(b"CONDSTORE"):
                condstore = True
            elif cur.take_word(b"QRESYNC"):
                cur.sp()
                qresync = _qresync(cur)
            else:
                raise BadSyntax("unknown SELECT parameter")
            if cur.take(b")"):
                break
            cur.sp()
    cur.finish()
    return c.Select(tag, name, mailbox, condstore, qresync)


def _qresync(cur: Cursor) -> c.QResync:
    """RFC 7162 §3.2.5: (uidvalidity mod-sequence-value [SP known-uids] [SP seq-match-data])."""
    cur.expect(b"(")
    uidvalidity = cur.nz_number()
    cur.sp()
    modseq = cur.nz_number(MAX_NUMBER64)
    known = seqs = uids = None
    if cur.take(b" ") and not cur.peek(b"("):
        known = cur.sequence_set()
        cur.take(b" ")
    if cur.take(b"("):
        seqs = cur.sequence_set()
        cur.sp()
        uids = cur.sequence_set()
        cur.expect(b")")
    cur.expect(b")")
    return c.QResync(uidvalidity, modseq, known, seqs, uids)


def _rename(cur: Cursor, tag: str, name: str) -> c.Command:
    cur.sp()
    old = cur.mailbox()
    cur.sp()
    new = cur.mailbox()
    cur.finish()
    return c.Rename(tag, name, old, new)


def _list(cur: Cursor, tag: str, name: str) -> c.Command:
    """RFC 9051 §6.3.9 with RFC 5258 selection/return options and RFC 5819 RETURN (STATUS)."""
    cur.sp()
    selection: tuple[str, ...] = ()
    if name == "LIST" and cur.peek(b"("):
        selection = tuple(s.upper() for s in cur.paren_list(Cursor.atom))
        cur.sp()
    reference = cur.mailbox()
    cur.sp()
    if name == "LIST" and cur.peek(b"("):
        patterns = tuple(cur.paren_list(Cursor.list_mailbox, empty=False))
    else:
        patterns = (cur.list_mailbox(),)
    returns: list[str] = []
    status: list[str] = []
    if name == "LIST" and not cur.at_end():
        cur.sp()
        cur.expect(b"RETURN ", "RETURN")
        returns = cur.paren_list(lambda cu: _return_option(cu, status))
    cur.finish()
    return c.List(tag, name, reference, patterns, selection, tuple(returns), tuple(status))


def _return_option(cur: Cursor, status: list[str]) -> str:
    option = cur.atom().upper()
    if option == "STATUS":
        cur.sp()
        status.extend(item.upper() for item in cur.paren_list(Cursor.atom, empty=False))
    return option


def _status(cur: Cursor, tag: str, name: str) -> c.Command:
    cur.sp()
    mailbox = cur.mailbox()
    cur.sp()
    items = tuple(i.upper() for i in cur.paren_list(Cursor.atom, empty=False))
    cur.finish()
    return c.Status(tag, name, mailbox, items)


def _append(cur: Cursor, tag: str, name: str) -> c.Command:
    cur.sp()
    mailbox = cur.mailbox()
    messages = [_append_message(cur)]
    while not cur.at_end():  # RFC 3502 MULTIAPPEND
        messages.append(_append_message(cur))
    return c.Append(tag, name, mailbox, tuple(messages))


def _append_message(cur: Cursor) -> c.AppendMessage:
    cur.sp()
    flags: tuple[str, ...] = ()
    if cur.peek(b"("):
        flags = cur.flag_list()
        cur.sp()
    date = None
    if cur.peek(b'"'):
        date = cur.date_time()
        cur.sp()
    binary = cur.peek(b"~")
    return c.AppendMessage(flags, date, cur.literal(allow8=True), binary)


def _id(cur: Cursor, tag: str, name: str) -> c.Command:
    cur.sp()
    if cur.take_word(b"NIL"):
        cur.finish()
        return c.Id(tag, name, None)
    values = cur.paren_list(Cursor.nstring)
    if len(values) % 2 or any(v is None for v in values[::2]) or len(values) > 60:
        raise BadSyntax("bad ID parameter list")  # RFC 2971 §3.3: at most 30 pairs
    cur.finish()
    pairs = tuple((str(k), v) for k, v in zip(values[::2], values[1::2], strict=True))
    return c.Id(tag, name, pairs)


def _getquota(cur: Cursor, tag: str, name: str) -> c.Command:
    cur.sp()
    root = cur.astring()
    cur.finish()
    return c.GetQuota(tag, name, root)


def _search(cur: Cursor, tag: str, name: str, uid: bool = False) -> c.Command:
    cur.sp()
    returns: tuple[str, ...] | None = None
    if cur.take(b"RETURN "):
        returns = tuple(r.upper() for r in cur.paren_list(Cursor.atom))
        if not set(returns) <= ESEARCH_RETURNS:
            raise BadSyntax("unknown SEARCH RETURN option")
        cur.sp()
    charset = None
    if cur.take_word(b"CHARSET"):
        cur.sp()
        charset = cur.astring().upper()
        cur.sp()
    return c.Search(tag, name, parse_search_keys(cur), uid, charset, returns)


def _fetch(cur: Cursor, tag: str, name: str, uid: bool = False) -> c.Command:
    cur.sp()
    numbers = cur.sequence_set()
    cur.sp()
    items = parse_fetch_items(cur)
    changed_since: int | None = None
    vanished = False
    if not cur.at_end():
        cur.sp()
        cur.expect(b"(")
        while True:
            if cur.take(b"CHANGEDSINCE "):
                changed_since = cur.number(MAX_NUMBER64)
            elif uid and cur.take_word(b"VANISHED"):
                vanished = True  # RFC 7162 §3.2.6: only with UID FETCH
            else:
                raise BadSyntax("unknown FETCH modifier")
            if cur.take(b")"):
                break
            cur.sp()
    cur.finish()
    if vanished and changed_since is None:
        raise BadSyntax("VANISHED needs CHANGEDSINCE")
    return c.Fetch(tag, name, numbers, items, uid, changed_since, vanished)


def _store(cur: Cursor, tag: str, name: str, uid: bool = False) -> c.Command:
    cur.sp()
    numbers = cur.sequence_set()
    cur.sp()
    unchanged_since: int | None = None
    if cur.take(b"(UNCHANGEDSINCE "):
        unchanged_since = cur.number(MAX_NUMBER64)
        cur.expect(b")")
        cur.sp()
    mode = "+" if cur.take(b"+") else "-" if cur.take(b"-") else ""
    cur.expect(b"FLAGS", "FLAGS")
    silent = cur.take(b".SILENT")
    cur.sp()
    flags = cur.flag_list() if cur.peek(b"(") else _bare_flags(cur)
    cur.finish()
    return c.Store(tag, name, numbers, mode, flags, silent, uid, unchanged_since)


def _bare_flags(cur: Cursor) -> tuple[str, ...]:
    flags = [cur.flag()]
    while not cur.at_end():
        cur.sp()
        flags.append(cur.flag())
    return tuple(flags)


def _copy(cur: Cursor, tag: str, name: str, uid: bool = False) -> c.Command:
    cur.sp()
    numbers = cur.sequence_set()
    cur.sp()
    mailbox = cur.mailbox()
    cur.finish()
    return c.Copy(tag, name, numbers, mailbox, uid)


def _uid_expunge(cur: Cursor, tag: str, name: str) -> c.Command:
    cur.sp()
    uids = cur.sequence_set()
    cur.finish()
    return c.Expunge(tag, name, uids)


_PARSERS: dict[str, Parser] = {
    "LOGIN": _login,
    "AUTHENTICATE": _authenticate,
    "ENABLE": _enable,
    "SELECT": _select,
    "EXAMINE": _select,
    "RENAME": _rename,
    "LIST": _list,
    "LSUB": _list,
    "STATUS": _status,
    "APPEND": _append,
    "ID": _id,
    "GETQUOTA": _getquota,
    "SEARCH": _search,
    "FETCH": _fetch,
    "STORE": _store,
    "COPY": _copy,
    "MOVE": _copy,
}
_UID_PARSERS: dict[str, Parser] = {
    "FETCH": lambda cur, tag, name: _fetch(cur, tag, name, uid=True),
    "STORE": lambda cur, tag, name: _store(cur, tag, name, uid=True),
    "COPY": lambda cur, tag, name: _copy(cur, tag, name, uid=True),
    "MOVE": lambda cur, tag, name: _copy(cur, tag, name, uid=True),
    "SEARCH": lambda cur, tag, name: _search(cur, tag, name, uid=True),
    "EXPUNGE": _uid_expunge,
}
