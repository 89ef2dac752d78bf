"""IMAP ENVELOPE and BODYSTRUCTURE (RFC 9051 §7.5.2) computed once from the raw message bytes.

The results are frozen dataclasses of plain values, so they can be stored at delivery and sent
on FETCH without parsing the message again; `to_imap` turns them into the nested values that
`roost.imap.encode.encode_value` accepts.

Sizes and line counts come from byte offsets in the message as stored: a small MIME splitter
(RFC 2046 §5.1.1) walks boundary delimiter lines and records where each part's header and body
start and end; the CRLF before a delimiter belongs to the delimiter. Header values are taken
raw (unfolded, RFC 5322 §2.2.3) and never decoded from encoded words (RFC 2047): IMAP sends
them as they are. Octets that are not UTF-8 are kept with `surrogateescape` and sent back as
the original bytes. Bare-LF messages are accepted; a line ends at LF either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "Address",
    "BodyPart",
    "Disposition",
    "Envelope",
    "MultiPart",
    "PartSpan",
    "SinglePart",
    "body_structure",
    "envelope",
    "leaf_parts",
    "part_offsets",
    "part_span",
    "to_imap",
    "to_imap_basic",
]

MAX_DEPTH = 40  # deeper nesting is treated as an opaque leaf part

Params = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Address:
    """One ENVELOPE address: (name adl mailbox host). A group start has host None and the group
    name in mailbox; a group end has all four None (RFC 9051 §7.5.2)."""

    name: str | None
    adl: str | None
    mailbox: str | None
    host: str | None


@dataclass(frozen=True, slots=True)
class Envelope:
    date: str | None
    subject: str | None
    from_: tuple[Address, ...] | None
    sender: tuple[Address, ...] | None
    reply_to: tuple[Address, ...] | None
    to: tuple[Address, ...] | None
    cc: tuple[Address, ...] | None
    bcc: tuple[Address, ...] | None
    in_reply_to: str | None
    message_id: str | None


@dataclass(frozen=True, slots=True)
class Disposition:
    type: str
    params: Params = ()


@dataclass(frozen=True, slots=True)
class SinglePart:
    """A non-multipart body. `lines` is set for text/* and message/rfc822 (and message/global);
    `envelope` and `body` only for the latter two."""

    type: str
    subtype: str
    params: Params
    id: str | None
    description: str | None
    encoding: str
    size: int
    lines: int | None = None
    envelope: Envelope | None = None
    body: BodyPart | None = None
    md5: str | None = None
    disposition: Disposition | None = None
    language: tuple[str, ...] | None = None
    location: str | None = None


@dataclass(frozen=True, slots=True)
class MultiPart:
    parts: tuple[BodyPart, ...]
    subtype: str
    params: Params
    disposition: Disposition | None = None
    language: tuple[str, ...] | None = None
    location: str | None = None


BodyPart = SinglePart | MultiPart


# --- Headers -------------------------------------------------------------------------------


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _split_header(msg: bytes, start: int, end: int) -> tuple[int, int]:
    """(end of the header fields, start of the body) for the entity at msg[start:end]."""
    pos = start
    while pos < end:
        nl = msg.find(b"\n", pos, end)
        line_end = end if nl < 0 else nl + 1
        if msg[pos:line_end] in (b"\r\n", b"\n", b"\r"):
            return pos, line_end
        pos = line_end
    return end, end


def _parse_fields(block: bytes) -> dict[str, str]:
    """Lower-cased field name -> first value, unfolded and stripped."""
    fields: dict[str, str] = {}
    current: list[bytes] = []

    def flush() -> None:
        if current:
            line = b"".join(current)
            name, sep, value = line.partition(b":")
            key = _text(name.strip()).lower()
            if sep and key and key not in fields:
                fields[key] = _text(value.strip(b" \t\r\n"))
        current.clear()

    for line in block.splitlines():
        if line[:1] in (b" ", b"\t") and current:
            current.append(line)
        else:
            flush()
            current.append(line)
    flush()
    return fields


# --- Tokens (RFC 5322 §3.2) ---------------------------------------------------------------

_SPECIALS = '()<>[]:;@\\,."'


def _tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text): kind is "atom", "qs" (unquoted content), "comment", "dlit" or a special."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
        elif c == '"':
            i += 1
            buf = []
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                buf.append(text[i])
                i += 1
            out.append(("qs", "".join(buf)))
            i += 1
        elif c == "(":
            depth, i, buf = 1, i + 1, []
            while i < n and depth:
                ch = text[i]
                if ch == "\\" and i + 1 < n:
                    buf.append(text[i + 1])
                    i += 2
                    continue
                depth += ch == "("
                depth -= ch == ")"
                if depth:
                    buf.append(ch)
                i += 1
            out.append(("comment", "".join(buf).strip()))
        elif c == "[":
            j = text.find("]", i)
            j = n if j < 0 else j + 1
            out.append(("dlit", text[i:j]))
            i = j
        elif c in _SPECIALS:
            out.append((c, c))
            i += 1
        else:
            j = i
            while j < n and text[j] not in _SPECIALS and text[j] not in " \t\r\n":
                j += 1
            out.append(("atom", text[i:j]))
            i = j
    return out


def _word(tok: tuple[str, str]) -> str:
    kind, text = tok
    if kind == "qs":
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def _addr_spec(toks: list[tuple[str, str]]) -> tuple[str | None, str]:
    """(mailbox, host) from addr-spec tokens; a missing domain gives host ""."""
    toks = [t for t in toks if t[0] != "comment"]
    at = max((i for i, t in enumerate(toks) if t[0] == "@"), default=-1)
    if at < 0:
        local = "".join(_word(t) for t in toks)
        return (local or None), ""
    return "".join(_word(t) for t in toks[:at]), "".join(t[1] for t in toks[at + 1 :])


def _phrase(toks: list[tuple[str, str]]) -> str | None:
    words = [t[1] for t in toks if t[0] in ("atom", "qs", ".")]
    text = " ".join(words).replace(" . ", ".")
    return text or None


def _addresses(value: str | None) -> tuple[Address, ...] | None:
    """An address-list header as ENVELOPE addresses, groups included; NIL when empty."""
    if value is None:
        return None
    out: list[Address] = []
    pending: list[tuple[str, str]] = []
    in_group = False

    def finish() -> None:
        if any(t[0] not in ("comment",) for t in pending):
            mailbox, host = _addr_spec(pending)
            if mailbox is not None:
                comments = [t[1] for t in pending if t[0] == "comment" and t[1]]
                out.append(Address(comments[-1] if comments else None, None, mailbox, host))
        pending.clear()

    toks = _tokens(value)
    i = 0
    while i < len(toks):
        kind = toks[i][0]
        if kind == "<":
            j = i + 1
            while j < len(toks) and toks[j][0] != ">":
                j += 1
            inner = toks[i + 1 : j]
            colon = max((k for k, t in enumerate(inner) if t[0] == ":"), default=-1)
            adl = "".join(t[1] for t in inner[: max(colon, 0)] if t[0] != "comment") or None
            mailbox, host = _addr_spec(inner[colon + 1 :])
            out.append(Address(_phrase(pending), adl, mailbox or "", host))
            pending.clear()
            i = j + 1
            continue
        if kind == ":" and not in_group:
            out.append(Address(None, None, _phrase(pending) or "", None))
            pending.clear()
            in_group = True
        elif kind == ";" and in_group:
            finish()
            out.append(Address(None, None, None, None))
            in_group = False
        elif kind == ",":
            finish()
        else:
            pending.append(toks[i])
        i += 1
    finish()
    if in_group:
        out.append(Address(None, None, None, None))
    return tuple(out) or None


def _envelope(fields: dict[str, str]) -> Envelope:
    from_ = _addresses(fields.get("from"))
    return Envelope(
        date=fields.get("date"),
        subject=fields.get("subject"),
        from_=from_,
        sender=_addresses(fields.get("sender")) or from_,
        reply_to=_addresses(fields.get("reply-to")) or from_,
        to=_addresses(fields.get("to")),
        cc=_addresses(fields.get("cc")),
        bcc=_addresses(fields.get("bcc")),
        in_reply_to=fields.get("in-reply-to"),
        message_id=fields.get("message-id"),
    )


# --- MIME parameters -------------------------------------------------------------------------


def _params(text: str) -> tuple[str, Params]:
    """Split `value; a=b; c="d"` into the value and its parameters (names lower-cased, values
    unquoted and otherwise raw: continuations and charsets are passed through)."""
    head, _, rest = text.partition(";")
    params: list[tuple[str, str]] = []
    i, n = 0, len(rest)
    while i < n:
        while i < n and rest[i] in " \t;":
            i += 1
        j = i
        while j < n and rest[j] not in "=;":
            j += 1
        name = rest[i:j].strip().lower()
        if j >= n or rest[j] == ";":
            i = j
            continue
        j += 1
        while j < n and rest[j] in " \t":
            j += 1
        if j < n and rest[j] == '"':
            j += 1
            buf = []
            while j < n and rest[j] != '"':
                if rest[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(rest[j])
                j += 1
            value = "".join(buf)
            j += 1
            while j < n and rest[j] != ";":
                j += 1
        else:
            k = j
            while j < n and rest[j] != ";":
                j += 1
            value = rest[k:j].strip()
        if name:
            params.append((name, value))
        i = j
    return head.strip(), tuple(params)


def _disposition(value: str | None) -> Disposition | None:
    if not value:
        return None
    kind, params = _params(value)
    return Disposition(kind.lower(), params) if kind else None


def _language(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    tags = tuple(t.strip() for t in value.split(",") if t.strip())
    return tags or None


# --- The MIME tree with offsets --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Entity:
    start: int
    body_start: int
    end: int
    fields: dict[str, str]
    type: str
    subtype: str
    params: Params
    children: tuple[_Entity, ...] = ()
    embedded: _Entity | None = None  # message/rfc822: the encapsulated message


_DEFAULT_PARAMS: Params = (("charset", "us-ascii"),)


def _content_type(fields: dict[str, str], default: tuple[str, str]) -> tuple[str, str, Params]:
    value = fields.get("content-type")
    if value is not None:
        head, params = _params(value)
        kind, slash, sub = head.partition("/")
        kind, sub = kind.strip().lower(), sub.strip().lower()
        if slash and kind and sub and " " not in kind and " " not in sub:
            return kind, sub, params
    if default == ("text", "plain"):
        return "text", "plain", _DEFAULT_PARAMS
    return default[0], default[1], ()


def _is_message(kind: str, sub: str) -> bool:
    return kind == "message" and sub in ("rfc822", "global")


def _parse(msg: bytes, start: int, end: int, default: tuple[str, str], depth: int = 0) -> _Entity:
    header_end, body_start = _split_header(msg, start, end)
    fields = _parse_fields(msg[start:header_end])
    kind, sub, params = _content_type(fields, default)
    if depth >= MAX_DEPTH:
        return _Entity(start, body_start, end, fields, kind, sub, params)
    if kind == "multipart":
        boundary = dict(params).get("boundary")
        spans = _split_parts(msg, body_start, end, boundary) if boundary else []
        if not spans:  # no usable boundary: an opaque leaf
            return _Entity(start, body_start, end, fields, "text", "plain", _DEFAULT_PARAMS)
        child_default = ("message", "rfc822") if sub == "digest" else ("text", "plain")
        children = tuple(_parse(msg, s, e, child_default, depth + 1) for s, e in spans)
        return _Entity(start, body_start, end, fields, kind, sub, params, children)
    encoding = fields.get("content-transfer-encoding", "7bit").strip().lower()
    if _is_message(kind, sub) and encoding in ("7bit", "8bit", "binary"):
        inner = _parse(msg, body_start, end, ("text", "plain"), depth + 1)
        return _Entity(start, body_start, end, fields, kind, sub, params, embedded=inner)
    return _Entity(start, body_start, end, fields, kind, sub, params)


def _split_parts(msg: bytes, start: int, end: int, boundary: str) -> list[tuple[int, int]]:
    """Byte spans of the body parts between `--boundary` delimiter lines (RFC 2046 §5.1.1)."""
    delim = b"--" + boundary.encode("utf-8", "surrogateescape")
    spans: list[tuple[int, int]] = []
    part_start: int | None = None
    pos = start
    while True:
        at = msg.find(delim, pos, end)
        if at < 0:
            break
        nl = msg.find(b"\n", at, end)
        line_end = end if nl < 0 else nl + 1
        pos = at + len(delim)
        if at != start and msg[at - 1 : at] != b"\n":
            continue  # not at the start of a line
        rest = msg[at + len(delim) : line_end].rstrip(b" \t\r\n")
        if rest not in (b"", b"--"):
            continue
        if part_start is not None:
            stop = at
            if stop - 2 >= part_start and msg[stop - 2 : stop] == b"\r\n":
                stop -= 2
            elif stop - 1 >= part_start and msg[stop - 1 : stop] == b"\n":
                stop -= 1
            spans.append((part_start, stop))
        if rest == b"--":
            return spans
        part_start = line_end
        pos = line_end
    if part_start is not None:  # no close delimiter: the last part runs to the end
        spans.append((part_start, end))
    return spans


# --- Public API ------------------------------------------------------------------------------


def _root(message: bytes) -> _Entity:
    return _parse(message, 0, len(message), ("text", "plain"))


def envelope(message: bytes) -> Envelope:
    """The ENVELOPE of a message (RFC 9051 §7.5.2)."""
    header_end, _ = _split_header(message, 0, len(message))
    return _envelope(_parse_fields(message[:header_end]))


def body_structure(message: bytes) -> BodyPart:
    """The BODYSTRUCTURE of a message (RFC 9051 §7.5.2), extension data included."""
    return _structure(message, _root(message))


def _lines(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _structure(msg: bytes, ent: _Entity) -> BodyPart:
    f = ent.fields
    disposition = _disposition(f.get("content-disposition"))
    language = _language(f.get("content-language"))
    location = f.get("content-location")
    if ent.children:
        return MultiPart(
            parts=tuple(_structure(msg, c) for c in ent.children),
            subtype=ent.subtype,
            params=ent.params,
            disposition=disposition,
            language=language,
            location=location,
        )
    body = msg[ent.body_start : ent.end]
    lines = None
    env = None
    inner = None
    if ent.type == "text" or ent.embedded is not None:
        lines = _lines(body)
    if ent.embedded is not None:
        header_end, _ = _split_header(msg, ent.embedded.start, ent.embedded.end)
        env = _envelope(_parse_fields(msg[ent.embedded.start : header_end]))
        inner = _structure(msg, ent.embedded)
    return SinglePart(
        type=ent.type,
        subtype=ent.subtype,
        params=ent.params,
        id=f.get("content-id"),
        description=f.get("content-description"),
        encoding=f.get("content-transfer-encoding", "7bit").strip().lower() or "7bit",
        size=len(body),
        lines=lines,
        envelope=env,
        body=inner,
        disposition=disposition,
        language=language,
        location=location,
    )


def part_offsets(message: bytes, section: tuple[int, ...]) -> tuple[int, int]:
    """(start, end) of the body of a section part such as (1, 2) for BODY[1.2] (RFC 9051 §6.4.5).

    Part 1 of a non-multipart message is its body; the parts below a message/rfc822 part are
    those of the encapsulated message. `()` is the whole message. Raises KeyError when the
    part does not exist.
    """
    if not section:
        return 0, len(message)
    ent = _locate(_root(message), section)
    return ent.body_start, ent.end


@dataclass(frozen=True, slots=True)
class PartSpan:
    """Where one entity lies in the message: MIME header fields at [start, header_end), the
    blank line, the body at [body_start, end). `message` is the encapsulated message of a
    message/rfc822 (or message/global) part sent as 7bit/8bit/binary, else None."""

    start: int
    header_end: int
    body_start: int
    end: int
    type: str
    subtype: str
    params: Params
    encoding: str  # Content-Transfer-Encoding, lower-cased, "7bit" when absent
    message: PartSpan | None = None


def _span(msg: bytes, ent: _Entity) -> PartSpan:
    header_end, _ = _split_header(msg, ent.start, ent.end)
    return PartSpan(
        start=ent.start,
        header_end=header_end,
        body_start=ent.body_start,
        end=ent.end,
        type=ent.type,
        subtype=ent.subtype,
        params=ent.params,
        encoding=ent.fields.get("content-transfer-encoding", "7bit").strip().lower() or "7bit",
        message=None if ent.embedded is None else _span(msg, ent.embedded),
    )


def part_span(message: bytes, section: tuple[int, ...]) -> PartSpan:
    """The entity a section part names, numbered as in `part_offsets`; `()` is the whole
    message (its header is the top-level header). Raises KeyError when the part does not
    exist."""
    root = _root(message)
    return _span(message, root if not section else _locate(root, section))


def leaf_parts(message: bytes) -> list[PartSpan]:
    """Every non-multipart entity in document order, descending into encapsulated messages
    (whose own header is then listed as the `message` of the enclosing part)."""
    out: list[PartSpan] = []

    def walk(ent: _Entity) -> None:
        if ent.children:
            for child in ent.children:
                walk(child)
            return
        out.append(_span(message, ent))
        if ent.embedded is not None:
            walk(ent.embedded)

    walk(_root(message))
    return out


def _locate(root: _Entity, section: tuple[int, ...]) -> _Entity:
    ent = root
    for depth, number in enumerate(section):
        if depth == 0 or (ent.children and ent.embedded is None):
            container = ent
        elif ent.embedded is not None:
            container = ent.embedded
        else:
            raise KeyError(section)
        if container.children:
            if not 1 <= number <= len(container.children):
                raise KeyError(section)
            ent = container.children[number - 1]
        elif number == 1:
            ent = container
        else:
            raise KeyError(section)
    return ent


# --- IMAP values ------------------------------------------------------------------------------

Value = None | int | str | bytes | Sequence["Value"]


def _nstring(text: str | None) -> str | bytes | None:
    """str for the encoder (quoted or UTF-8 literal), or the original octets when they are not
    UTF-8 (sent as a literal)."""
    if text is None:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")
    return text


def _plist(params: Params) -> list[Value] | None:
    if not params:
        return None
    return [_nstring(x) for pair in params for x in pair]


def _addr_list(addresses: tuple[Address, ...] | None) -> list[Value] | None:
    if addresses is None:
        return None
    return [
        [_nstring(a.name), _nstring(a.adl), _nstring(a.mailbox), _nstring(a.host)]
        for a in addresses
    ]


def _ext(
    disposition: Disposition | None, language: tuple[str, ...] | None, location: str | None
) -> list[Value]:
    dsp: Value = None
    if disposition is not None:
        dsp = [_nstring(disposition.type), _plist(disposition.params)]
    lang: Value = None
    if language is not None:
        lang = _nstring(language[0]) if len(language) == 1 else [_nstring(t) for t in language]
    return [dsp, lang, _nstring(location)]


def to_imap(value: Envelope | BodyPart | Address) -> list[Value]:
    """The ENVELOPE or BODYSTRUCTURE as nested values for `roost.imap.encode.encode_value`."""
    if isinstance(value, Address):
        return [
            _nstring(value.name),
            _nstring(value.adl),
            _nstring(value.mailbox),
            _nstring(value.host),
        ]
    if isinstance(value, Envelope):
        return [
            _nstring(value.date),
            _nstring(value.subject),
            _addr_list(value.from_),
            _addr_list(value.sender),
            _addr_list(value.reply_to),
            _addr_list(value.to),
            _addr_list(value.cc),
            _addr_list(value.bcc),
            _nstring(value.in_reply_to),
            _nstring(value.message_id),
        ]
    if isinstance(value, MultiPart):
        return [
            *(to_imap(p) for p in value.parts),
            value.subtype,
            _plist(value.params),
            *_ext(value.disposition, value.language, value.location),
        ]
    return [
        *_leaf_fields(value, to_imap),
        _nstring(value.md5),
        *_ext(value.disposition, value.language, value.location),
    ]


def to_imap_basic(value: BodyPart) -> list[Value]:
    """FETCH BODY: the body structure without extension data (RFC 9051 §7.5.2), at every level
    (a nested message/rfc822 part's body too); multipart subtype and leaf fields only."""
    if isinstance(value, MultiPart):
        return [*(to_imap_basic(p) for p in value.parts), value.subtype]
    return _leaf_fields(value, to_imap_basic)


def _leaf_fields(value: SinglePart, nested: Callable[[BodyPart], list[Value]]) -> list[Value]:
    """A leaf part's fields before any extension data (RFC 9051 §7.4.2 body-type-1part): the
    basic fields, then a message/rfc822 part's envelope and body (`nested` renders the body)
    and the line count of text parts."""
    out: list[Value] = [
        _nstring(value.type),
        _nstring(value.subtype),
        _plist(value.params),
        _nstring(value.id),
        _nstring(value.description),
        _nstring(value.encoding),
        value.size,
    ]
    if value.envelope is not None and value.body is not None:
        out += [to_imap(value.envelope), nested(value.body)]
    if value.lines is not None:
        out.append(value.lines)
    return out
