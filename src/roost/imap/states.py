"""The IMAP state table (RFC 9051 §3, §6): which commands each connection state accepts.

Sans-I/O and data only, so the session's dispatcher and the tests read the same table.
"""

from __future__ import annotations

import enum


class State(enum.Enum):
    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


ANY_STATE = frozenset(["CAPABILITY", "NOOP", "LOGOUT", "ID"])  # RFC 9051 §6.1, RFC 2971
NOT_AUTHENTICATED = frozenset(["STARTTLS", "LOGIN", "AUTHENTICATE"])  # §6.2
AUTHENTICATED = frozenset(  # §6.3, valid in the selected state too
    [
        "ENABLE",
        "SELECT",
        "EXAMINE",
        "CREATE",
        "DELETE",
        "RENAME",
        "SUBSCRIBE",
        "UNSUBSCRIBE",
        "LIST",
        "LSUB",
        "NAMESPACE",
        "STATUS",
        "APPEND",
        "IDLE",
        "GETQUOTA",
        "GETQUOTAROOT",
    ]
)
SELECTED = frozenset(  # §6.4
    ["CHECK", "CLOSE", "UNSELECT", "EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY", "MOVE"]
)


def allowed(state: State, command: str) -> bool:
    """Whether `command` (upper-cased; UID commands by their base name) may run in `state`."""
    if command in ANY_STATE:
        return state is not State.LOGOUT
    if state is State.NOT_AUTHENTICATED:
        return command in NOT_AUTHENTICATED
    if state is State.AUTHENTICATED:
        return command in AUTHENTICATED
    if state is State.SELECTED:
        return command in AUTHENTICATED or command in SELECTED
    return False
