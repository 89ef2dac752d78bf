"""SMTP (RFC 5321 and extensions): the sans-I/O server core and its public API.

Other packages import only from here.
"""

from roost.smtp._state import State
from roost.smtp.address import AddressError, Utf8AddressError, parse_path, split_address
from roost.smtp.errors import LocalProtocolError
from roost.smtp.events import (
    NEED_DATA,
    Auth,
    AuthResponse,
    Bdat,
    ChunkEnd,
    CommandError,
    ConnectionClosed,
    Data,
    DataEnd,
    Ehlo,
    Event,
    Expn,
    Help,
    MailFrom,
    MessageData,
    Noop,
    Quit,
    RcptTo,
    Rset,
    StartTls,
    Vrfy,
)
from roost.smtp.extensions import (
    MailParams,
    ParamError,
    RcptParams,
    ehlo_lines,
    parse_mail_params,
    parse_rcpt_params,
)
from roost.smtp.reply import Reply
from roost.smtp.server import ServerConnection, ServerOptions

__all__ = [
    "NEED_DATA",
    "AddressError",
    "Auth",
    "AuthResponse",
    "Bdat",
    "ChunkEnd",
    "CommandError",
    "ConnectionClosed",
    "Data",
    "DataEnd",
    "Ehlo",
    "Event",
    "Expn",
    "Help",
    "LocalProtocolError",
    "MailFrom",
    "MailParams",
    "MessageData",
    "Noop",
    "ParamError",
    "Quit",
    "RcptParams",
    "RcptTo",
    "Reply",
    "Rset",
    "ServerConnection",
    "ServerOptions",
    "StartTls",
    "State",
    "Utf8AddressError",
    "Vrfy",
    "ehlo_lines",
    "parse_mail_params",
    "parse_path",
    "parse_rcpt_params",
    "split_address",
]
