"""The SMTP server state table (RFC 5321 §4.1.4 command order, RFC 3030, 3207, 4954).

This module alone decides (1) whether a command is legal in a state, and which reply refuses it
when not, and (2) which state the answer to an event leads to, keyed by the reply's code class.
It knows nothing about bytes or parsing (design rule 3).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from roost.smtp import reply as r


class State(enum.Enum):
    GREETING_SENT = "greeting-sent"  # need EHLO/HELO
    READY = "ready"  # after EHLO/HELO, no transaction
    MAIL = "mail"  # MAIL accepted, no recipient yet
    RCPT = "rcpt"  # at least one RCPT accepted
    CHUNKING = "chunking"  # between BDAT chunks (a non-LAST chunk was answered)
    DATA = "data"  # reading DATA lines after 354
    BDAT = "bdat"  # reading the bytes of a BDAT chunk
    AUTH = "auth"  # SASL exchange after a 334
    TLS_PENDING = "tls-pending"  # 220 to STARTTLS sent, waiting for tls_started()
    CLOSED = "closed"


class Kind(enum.Enum):
    """What is being answered: a command, or a framing event that needs a reply."""

    EHLO = "EHLO"
    MAIL = "MAIL"
    RCPT = "RCPT"
    DATA = "DATA"
    BDAT = "BDAT"
    RSET = "RSET"
    NOOP = "NOOP"
    QUIT = "QUIT"
    HELP = "HELP"
    VRFY = "VRFY"
    EXPN = "EXPN"
    STARTTLS = "STARTTLS"
    AUTH = "AUTH"
    AUTH_RESPONSE = "auth-response"
    DATA_END = "data-end"
    CHUNK_END = "chunk-end"
    LAST_CHUNK_END = "last-chunk-end"
    ERROR = "error"  # a CommandError


@dataclass(frozen=True, slots=True)
class Flags:
    """Connection facts outside the state machine proper that some rules depend on."""

    authenticated: bool = False
    tls_active: bool = False


S = State
COMMAND_STATES = frozenset({S.GREETING_SENT, S.READY, S.MAIL, S.RCPT, S.CHUNKING})
TRANSACTION_STATES = frozenset({S.MAIL, S.RCPT, S.CHUNKING, S.DATA, S.BDAT})
_ANY = COMMAND_STATES
_SESSION = frozenset({S.READY, S.MAIL, S.RCPT, S.CHUNKING})

# Rule 1: where each command is legal. RFC 5321 §4.1.4: EHLO, RSET, NOOP, QUIT, HELP, VRFY and
# EXPN may be issued at any time; MAIL needs EHLO/HELO first, RCPT needs MAIL, DATA needs RCPT.
LEGAL: dict[Kind, frozenset[State]] = {
    Kind.EHLO: _ANY,
    Kind.RSET: _ANY,
    Kind.NOOP: _ANY,
    Kind.QUIT: _ANY,
    Kind.HELP: _ANY,
    Kind.VRFY: _ANY,
    Kind.EXPN: _ANY,
    Kind.ERROR: _ANY | {S.AUTH},
    Kind.MAIL: frozenset({S.READY}),
    # RFC 3030 §2: no RCPT (or DATA) once BDAT has started the body.
    Kind.RCPT: frozenset({S.MAIL, S.RCPT}),
    Kind.DATA: frozenset({S.RCPT}),
    Kind.BDAT: frozenset({S.RCPT, S.CHUNKING}),
    # RFC 3207 §4: STARTTLS outside a transaction; RFC 4954 §4: AUTH after EHLO, not in a txn.
    Kind.STARTTLS: frozenset({S.GREETING_SENT, S.READY}),
    Kind.AUTH: frozenset({S.READY}),
    Kind.AUTH_RESPONSE: frozenset({S.AUTH}),
    Kind.DATA_END: frozenset({S.DATA}),
    Kind.CHUNK_END: frozenset({S.BDAT}),
    Kind.LAST_CHUNK_END: frozenset({S.BDAT}),
}

# The refusal for an illegal command: a per-(state, kind) override, else the per-kind default.
_REFUSAL: dict[tuple[State, Kind], r.Reply] = {
    # RFC 5321 §3.3: DATA with no accepted recipient is refused with 503 (or 554).
    (S.MAIL, Kind.DATA): r.C503_NO_RECIPIENTS,
    (S.MAIL, Kind.BDAT): r.C503_NO_RECIPIENTS,
    (S.MAIL, Kind.MAIL): r.C503_BAD_SEQUENCE.with_text("Nested MAIL command"),
    (S.RCPT, Kind.MAIL): r.C503_BAD_SEQUENCE.with_text("Nested MAIL command"),
    (S.CHUNKING, Kind.MAIL): r.C503_BAD_SEQUENCE.with_text("Nested MAIL command"),
    (S.CHUNKING, Kind.DATA): r.C503_BAD_SEQUENCE.with_text("DATA not allowed after BDAT"),
    (S.GREETING_SENT, Kind.MAIL): r.C503_BAD_SEQUENCE.with_text("Send EHLO/HELO first"),
    (S.GREETING_SENT, Kind.AUTH): r.C503_BAD_SEQUENCE.with_text("Send EHLO first"),
}
for _state in (S.MAIL, S.RCPT, S.CHUNKING):
    _REFUSAL[(_state, Kind.AUTH)] = r.C503_BAD_SEQUENCE.with_text(
        "AUTH not allowed in a transaction"
    )
    _REFUSAL[(_state, Kind.STARTTLS)] = r.C503_BAD_SEQUENCE.with_text(
        "STARTTLS not allowed in a transaction"
    )

# Guards: a legal command may still be refused because of a connection fact.
GUARDS: dict[Kind, tuple[Callable[[Flags], bool], r.Reply]] = {
    # RFC 4954 §4: "After a successful AUTH command completes, a server MUST reject any further
    # AUTH commands with a 503 reply."
    Kind.AUTH: (lambda f: f.authenticated, r.C503_ALREADY_AUTHENTICATED),
    # RFC 3207 §4.2: STARTTLS is not offered (and refused) once TLS is active.
    Kind.STARTTLS: (lambda f: f.tls_active, r.C503_TLS_ACTIVE),
}


def refusal(state: State, kind: Kind, flags: Flags) -> r.Reply | None:
    """The reply refusing `kind` in `state`, or None when it is legal."""
    if state not in LEGAL[kind]:
        return _REFUSAL.get((state, kind), r.C503_BAD_SEQUENCE)
    guard = GUARDS.get(kind)
    if guard is not None and guard[0](flags):
        return guard[1]
    return None


class Effect(enum.Enum):
    NONE = "none"
    AUTHENTICATED = "authenticated"  # 235 to AUTH (RFC 4954 §6)
    AWAIT_TLS = "await-tls"  # 220 to STARTTLS: drop buffered input (RFC 3207 §5)
    RESET = "reset"  # transaction state forgotten


# Rule 2: the state after answering. Key: (state when answered, kind, reply class 2..5).
# Missing keys with class 2, 4 or 5 mean "state unchanged"; a missing class-3 key is misuse.
_POS, _INT, _NEG = (2,), (3,), (4, 5)
_ALL = (2, 4, 5)
TRANSITIONS: dict[tuple[State, Kind, int], tuple[State, Effect]] = {}


def _add(
    states: frozenset[State] | set[State],
    kind: Kind,
    classes: tuple[int, ...],
    to: State,
    effect: Effect = Effect.NONE,
) -> None:
    for state in states:
        for cls in classes:
            TRANSITIONS[(state, kind, cls)] = (to, effect)


# RFC 5321 §4.1.4: a 250 to EHLO/HELO resets the transaction, as RSET does.
_add(_ANY, Kind.EHLO, _POS, S.READY, Effect.RESET)
_add(_SESSION, Kind.RSET, _POS, S.READY, Effect.RESET)
_add(_ANY, Kind.QUIT, _POS, S.CLOSED)
_add({S.READY}, Kind.MAIL, _POS, S.MAIL)
_add({S.MAIL, S.RCPT}, Kind.RCPT, _POS, S.RCPT)
_add({S.RCPT}, Kind.DATA, _INT, S.DATA)
# RFC 5321 §4.1.1.4: whatever the answer to the end of data, the transaction is over.
_add({S.DATA}, Kind.DATA_END, _ALL, S.READY, Effect.RESET)
# RFC 3030 §2: after a failed non-LAST chunk the client should RSET; stay between chunks.
_add({S.BDAT}, Kind.CHUNK_END, _ALL, S.CHUNKING)
_add({S.BDAT}, Kind.LAST_CHUNK_END, _ALL, S.READY, Effect.RESET)
_add(_ANY, Kind.STARTTLS, _POS, S.TLS_PENDING, Effect.AWAIT_TLS)
_add({S.READY}, Kind.AUTH, _INT, S.AUTH)
_add({S.READY}, Kind.AUTH, _POS, S.READY, Effect.AUTHENTICATED)
_add({S.AUTH}, Kind.AUTH_RESPONSE, _INT, S.AUTH)
_add({S.AUTH}, Kind.AUTH_RESPONSE, _POS, S.READY, Effect.AUTHENTICATED)
_add({S.AUTH}, Kind.AUTH_RESPONSE, _NEG, S.READY)
# RFC 4954 §4: an unparseable response (bad base64) ends the exchange.
_add({S.AUTH}, Kind.ERROR, _ALL, S.READY)


class TransitionError(Exception):
    """The reply's code class is meaningless for the event (e.g. 354 to RCPT)."""


def next_state(state: State, kind: Kind, code: int) -> tuple[State, Effect]:
    """The state after answering `kind` with `code`. RFC 5321 §3.8: any 421 closes."""
    if code == 421:
        return S.CLOSED, Effect.NONE
    cls = code // 100
    found = TRANSITIONS.get((state, kind, cls))
    if found is not None:
        return found
    if cls == 3 or cls not in (2, 4, 5):
        raise TransitionError(f"reply {code} makes no sense for {kind.value} in {state.value}")
    return state, Effect.NONE


# Event-triggered transitions (no reply first): the chunk's bytes follow BDAT immediately,
# so reading them cannot wait for the answer (RFC 3030 §2).
ON_EVENT: dict[tuple[State, Kind], State] = {
    (S.RCPT, Kind.BDAT): S.BDAT,
    (S.CHUNKING, Kind.BDAT): S.BDAT,
}


def on_event(state: State, kind: Kind) -> State:
    """The state right after emitting an event of `kind` (before any reply)."""
    return ON_EVENT.get((state, kind), state)
