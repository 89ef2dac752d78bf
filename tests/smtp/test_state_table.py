"""The state table itself (design rule 3): complete, and consistent with RFC 5321 §4.1.4."""

from __future__ import annotations

import pytest

from roost.smtp import _state
from roost.smtp._state import Effect, Flags, Kind, State, TransitionError, next_state, refusal
from roost.smtp.reply import C503_ALREADY_AUTHENTICATED, C503_BAD_SEQUENCE, C503_TLS_ACTIVE


def test_every_kind_has_a_legality_rule() -> None:
    """Each Kind appears in LEGAL, so nothing is legal by omission."""
    assert set(_state.LEGAL) == set(Kind)


@pytest.mark.parametrize("kind", [Kind.EHLO, Kind.RSET, Kind.NOOP, Kind.QUIT, Kind.HELP])
def test_any_time_commands_legal_in_every_command_state(kind: Kind) -> None:
    """EHLO, RSET, NOOP, QUIT, HELP are legal in every command state (RFC 5321 §4.1.4)."""
    for state in _state.COMMAND_STATES:
        assert refusal(state, kind, Flags()) is None


def test_no_command_legal_outside_command_states() -> None:
    """In DATA, BDAT, TLS_PENDING and CLOSED no command verb is legal."""
    commands = [k for k in Kind if k.name == k.value]  # the verb kinds
    for state in (State.DATA, State.BDAT, State.TLS_PENDING, State.CLOSED):
        for kind in commands:
            assert refusal(state, kind, Flags()) is not None, (state, kind)


def test_guards() -> None:
    """AUTH after authentication and STARTTLS under TLS are refused by guards."""
    assert refusal(State.READY, Kind.AUTH, Flags(authenticated=True)) == C503_ALREADY_AUTHENTICATED
    assert refusal(State.READY, Kind.STARTTLS, Flags(tls_active=True)) == C503_TLS_ACTIVE
    assert refusal(State.READY, Kind.AUTH, Flags()) is None


def test_default_refusal_is_bad_sequence() -> None:
    """Without an override, an illegal command gets 503 5.5.1."""
    assert refusal(State.READY, Kind.RCPT, Flags()) == C503_BAD_SEQUENCE


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("kind", list(Kind))
def test_421_always_closes(state: State, kind: Kind) -> None:
    """A 421 to anything, anywhere, leads to CLOSED (RFC 5321 §3.8)."""
    assert next_state(state, kind, 421) == (State.CLOSED, Effect.NONE)


def test_intermediate_reply_only_where_meaningful() -> None:
    """3xx is accepted only for DATA, AUTH and AuthResponse."""
    with pytest.raises(TransitionError):
        next_state(State.MAIL, Kind.RCPT, 354)
    assert next_state(State.RCPT, Kind.DATA, 354) == (State.DATA, Effect.NONE)
    assert next_state(State.READY, Kind.AUTH, 334) == (State.AUTH, Effect.NONE)
    assert next_state(State.AUTH, Kind.AUTH_RESPONSE, 334) == (State.AUTH, Effect.NONE)


def test_failures_do_not_move() -> None:
    """A 5xx to MAIL, RCPT or EHLO leaves the state alone."""
    assert next_state(State.READY, Kind.MAIL, 550)[0] is State.READY
    assert next_state(State.MAIL, Kind.RCPT, 550)[0] is State.MAIL
    assert next_state(State.GREETING_SENT, Kind.EHLO, 501)[0] is State.GREETING_SENT


def test_transition_targets_are_states() -> None:
    """Every transition names a real state and effect."""
    for (state, kind, cls), (target, effect) in _state.TRANSITIONS.items():
        assert isinstance(state, State)
        assert isinstance(kind, Kind)
        assert cls in (2, 3, 4, 5)
        assert isinstance(target, State)
        assert isinstance(effect, Effect)
