"""The replies of Roost's inbound policy (relay, AUTH, limits, content checks).

Codes follow RFC 5321 §4.2 and the enhanced codes RFC 3463/RFC 5248; each constant names its rule.
"""

from __future__ import annotations

from roost.smtp.reply import Reply


def greeting(hostname: str) -> Reply:
    """RFC 5321 §4.2: 220 greeting; no enhanced code on the greeting (RFC 2034 §3)."""
    return Reply(220, "", f"{hostname} ESMTP Roost")


def helo(hostname: str) -> Reply:
    return Reply(250, "", hostname)


def queued(queue_id: str) -> Reply:
    return Reply(250, "2.0.0", f"Ok: queued as {queue_id}")


def chunk_ok(octets: int) -> Reply:
    return Reply(250, "2.0.0", f"Ok: {octets} octets received")


def auth_challenge(text: str) -> Reply:
    return Reply(334, "", text)  # RFC 4954 §4: the challenge line carries only base64


OK = Reply(250, "2.0.0", "Ok")
SENDER_OK = Reply(250, "2.1.0", "Sender ok")
RECIPIENT_OK = Reply(250, "2.1.5", "Recipient ok")
BYE = Reply(221, "2.0.0", "Bye")
HELP = Reply(214, "2.0.0", "See https://www.rfc-editor.org/rfc/rfc5321")
VRFY_CANNOT = Reply(252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery")
EXPN_DISABLED = Reply(502, "5.5.1", "EXPN not available")
START_DATA = Reply(354, "", "End data with <CR><LF>.<CR><LF>")
TLS_GO_AHEAD = Reply(220, "2.0.0", "Ready to start TLS")
TLS_UNAVAILABLE = Reply(454, "4.7.0", "TLS not available")  # RFC 3207 §4
AUTH_OK = Reply(235, "2.7.0", "Authentication successful")  # RFC 4954 §6
AUTH_FAILED = Reply(535, "5.7.8", "Authentication credentials invalid")  # RFC 4954 §6
AUTH_CANCELLED = Reply(501, "5.0.0", "Authentication cancelled")  # RFC 4954 §4
AUTH_REQUIRED = Reply(530, "5.7.0", "Authentication required")  # RFC 4954 §6
AUTH_NOT_OFFERED = Reply(502, "5.5.1", "AUTH not available on this port; use submission")
ENCRYPTION_REQUIRED = Reply(
    538, "5.7.11", "Encryption required for requested authentication mechanism"
)
SENDER_NOT_OWNED = Reply(553, "5.7.1", "Sender address not owned by the authenticated user")
NO_SUCH_USER = Reply(550, "5.1.1", "No such user here")
RELAY_DENIED = Reply(550, "5.7.1", "Relaying denied")
# RFC 5321 §4.5.3.1.10: 452 for too many recipients; the client sends the rest in a new transaction.
TOO_MANY_RECIPIENTS = Reply(452, "4.5.3", "Too many recipients")
NO_VALID_RECIPIENTS = Reply(554, "5.5.1", "No valid recipients")  # RFC 5321 §3.3
TOO_BIG = Reply(552, "5.3.4", "Message size exceeds fixed maximum message size")  # RFC 1870 §6
HEADER_TOO_BIG = Reply(552, "5.3.4", "Message header section too large")
LINE_TOO_LONG = Reply(550, "5.6.0", "Message has a line longer than allowed (RFC 5321 §4.5.3.1.6)")
NUL_IN_DATA = Reply(550, "5.6.0", "Message contains a NUL octet (RFC 5322 §3.5)")
BARE_LINE_ENDING = Reply(
    550, "5.6.0", "Message contains a bare CR or LF; lines must end with CRLF (RFC 5321 §2.3.8)"
)
TRANSACTION_FAILED = Reply(554, "5.5.0", "Transaction failed")
LOCAL_ERROR = Reply(451, "4.3.0", "Local error in processing; try again later")
TOO_MANY_ERRORS = Reply(421, "4.7.0", "Too many errors; closing connection")
TIMEOUT = Reply(421, "4.4.2", "Timeout; closing connection")
TOO_MANY_CONNECTIONS = Reply(421, "4.7.0", "Too many connections; try again later")
SHUTTING_DOWN = Reply(421, "4.3.2", "Service shutting down; try again later")
