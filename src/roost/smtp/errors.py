"""Error families of the SMTP core (design rule 5).

`LocalProtocolError` is raised when *our* code misuses a connection (a bug). Errors caused by the
peer never raise: they become `CommandError` events carrying the reply to send.
"""

from __future__ import annotations


class LocalProtocolError(Exception):
    """The caller misused the sans-I/O connection (e.g. a reply with no event pending).."""
