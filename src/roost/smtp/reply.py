"""SMTP replies (RFC 5321 §4.2) with RFC 3463 enhanced status codes, and the named constants.

No reply text is built outside this module; sessions pick a constant or call `Reply.with_text`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class Reply:
    code: int
    enhanced: str  # RFC 3463 "x.y.z"; "" for replies that carry none (220 greeting, 221?, 334)
    text: str  # may contain "\n" for a multi-line reply

    def with_text(self, text: str) -> Reply:
        return replace(self, text=text)

    @property
    def is_positive(self) -> bool:
        return 200 <= self.code < 400

    def format(self) -> bytes:
        """The reply on the wire: 'code-text' continuation lines and a final 'code text' line."""
        lines = self.text.split("\n") if self.text else [""]
        out = []
        for i, line in enumerate(lines):
            sep = " " if i == len(lines) - 1 else "-"
            # RFC 2034 §4: the enhanced code is repeated on every line of a multi-line reply.
            body = f"{self.enhanced} {line}" if self.enhanced else line
            out.append(f"{self.code}{sep}{body}".rstrip(" ") + "\r\n")
        return "".join(out).encode("utf-8")


# --- 2xx -------------------------------------------------------------------------------------
# RFC 5321 §4.2 / RFC 2034 §3: the greeting and EHLO/HELO replies carry no enhanced code.
C220_GREETING = Reply(220, "", "ESMTP ready")  # session: .with_text(f"{hostname} ESMTP Roost")
C250_HELO = Reply(
    250, "", "Hello"
)  # session: .with_text(hostname); EHLO uses extensions.ehlo_lines
C211_STATUS = Reply(211, "2.0.0", "System status")  # RFC 5321 §4.2.2
C214_HELP = Reply(
    214, "2.0.0", "See RFC 5321; commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT"
)
C220_TLS_GO = Reply(220, "2.0.0", "Ready to start TLS")  # RFC 3207 §4
C221_BYE = Reply(221, "2.0.0", "Bye")  # RFC 5321 §4.1.1.10
C235_AUTH_OK = Reply(235, "2.7.0", "Authentication successful")  # RFC 4954 §6
C250_OK = Reply(250, "2.0.0", "OK")
C250_SENDER_OK = Reply(250, "2.1.0", "Sender OK")  # RFC 3463 X.1.0: other address status
C250_RCPT_OK = Reply(250, "2.1.5", "Recipient OK")  # RFC 3463 X.1.5: destination address valid
C250_QUEUED = Reply(250, "2.0.0", "Queued")  # session: .with_text(f"Queued as {queue_id}")
C250_CHUNK_OK = Reply(250, "2.0.0", "Chunk accepted")  # RFC 3030 §2
C250_RESET = Reply(250, "2.0.0", "Reset")  # RFC 5321 §4.1.1.5
# RFC 5321 §3.5.3: 252 lets a server decline VRFY without revealing whether the user exists.
C252_VRFY = Reply(252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery")

# --- 3xx (intermediate) ------------------------------------------------------------------------
# RFC 4954 §4: the 334 text is the base64 challenge; no enhanced code may precede it.
C334_CHALLENGE = Reply(334, "", "")
C354_START_DATA = Reply(354, "", "Start mail input; end with <CRLF>.<CRLF>")  # RFC 5321 §4.1.1.4

# --- 4xx (transient) ---------------------------------------------------------------------------
C421_SHUTTING_DOWN = Reply(421, "4.3.2", "Service shutting down, closing connection")  # §3.8
C421_TIMEOUT = Reply(421, "4.4.2", "Timeout, closing connection")  # RFC 5321 §4.5.3.2
C421_TOO_MANY_ERRORS = Reply(421, "4.7.0", "Too many errors, closing connection")
# Sent after a BDAT whose size we refuse to read: the byte stream cannot be resynchronised.
C421_CANNOT_RESYNC = Reply(421, "4.5.0", "Cannot resynchronize after bad BDAT, closing")
C450_MAILBOX_UNAVAILABLE = Reply(450, "4.2.0", "Mailbox unavailable, try again later")
C451_LOCAL_ERROR = Reply(451, "4.3.0", "Local error in processing")  # RFC 5321 §4.2.3
C451_TEMP_AUTH_FAILURE = Reply(451, "4.7.0", "Temporary authentication failure")
C452_STORAGE_FULL = Reply(452, "4.3.1", "Insufficient system storage")
C452_MAILBOX_FULL = Reply(452, "4.2.2", "Mailbox full")  # RFC 3463 §3.3, over quota
# RFC 5321 §4.5.3.1.10: "too many recipients" is a 452, so the client retries the rest later.
C452_TOO_MANY_RECIPIENTS = Reply(452, "4.5.3", "Too many recipients")
C454_TLS_UNAVAILABLE = Reply(454, "4.7.0", "TLS not available")  # RFC 3207 §4
C454_TEMP_AUTH_FAILURE = Reply(454, "4.7.0", "Temporary authentication failure")  # RFC 4954 §6

# --- 5xx (permanent) ---------------------------------------------------------------------------
C500_UNRECOGNIZED = Reply(500, "5.5.2", "Command unrecognized")  # RFC 5321 §4.2.4
C500_LINE_TOO_LONG = Reply(500, "5.5.2", "Line too long")  # RFC 5321 §4.5.3.1.4
C500_BAD_OCTETS = Reply(500, "5.5.2", "NUL, bare CR/LF or invalid UTF-8 in command")
C500_BDAT_DISABLED = Reply(500, "5.5.1", "Command unrecognized: BDAT")  # RFC 3030 §2
C501_SYNTAX = Reply(501, "5.5.4", "Syntax error in parameters or arguments")  # §4.2.4
C501_BAD_SENDER = Reply(501, "5.1.7", "Bad sender address syntax")  # RFC 3463 X.1.7
C501_BAD_RECIPIENT = Reply(501, "5.1.3", "Bad recipient address syntax")  # RFC 3463 X.1.3
C501_BAD_BASE64 = Reply(501, "5.5.2", "Invalid base64 data")  # RFC 4954 §4
C501_AUTH_CANCELLED = Reply(501, "5.0.0", "Authentication cancelled")  # RFC 4954 §4 ("*")
C501_BDAT_TOO_BIG = Reply(501, "5.5.4", "BDAT chunk size too large")
C502_NOT_IMPLEMENTED = Reply(502, "5.5.1", "Command not implemented")  # RFC 5321 §4.2.4
C503_BAD_SEQUENCE = Reply(503, "5.5.1", "Bad sequence of commands")  # RFC 5321 §4.2.4
C503_NO_RECIPIENTS = Reply(503, "5.5.1", "No valid recipients")  # RFC 5321 §3.3
C503_ALREADY_AUTHENTICATED = Reply(503, "5.5.1", "Already authenticated")  # RFC 4954 §4
C503_TLS_ACTIVE = Reply(503, "5.5.1", "TLS already active")  # RFC 3207 §4.2
C504_UNKNOWN_MECHANISM = Reply(504, "5.5.4", "Unrecognized authentication mechanism")  # 4954 §4
C530_AUTH_REQUIRED = Reply(530, "5.7.0", "Authentication required")  # RFC 4954 §6
C530_TLS_REQUIRED = Reply(530, "5.7.0", "Must issue a STARTTLS command first")  # RFC 3207 §4
C534_MECHANISM_TOO_WEAK = Reply(534, "5.7.9", "Authentication mechanism is too weak")  # 4954 §6
C535_AUTH_FAILED = Reply(535, "5.7.8", "Authentication credentials invalid")  # RFC 4954 §6
# RFC 4954 §6: the mechanism needs an encrypted connection (PLAIN/LOGIN before STARTTLS).
C538_ENCRYPTION_REQUIRED = Reply(538, "5.7.11", "Encryption required for requested mechanism")
C550_NO_SUCH_USER = Reply(550, "5.1.1", "No such user here")  # RFC 3463 X.1.1
C550_RELAY_DENIED = Reply(550, "5.7.1", "Relay access denied")  # RFC 3463 X.7.1
C550_MAILBOX_UNAVAILABLE = Reply(550, "5.2.0", "Mailbox unavailable")
C552_TOO_BIG = Reply(552, "5.3.4", "Message size exceeds fixed limit")  # RFC 1870 §6
C553_SENDER_NOT_OWNED = Reply(553, "5.7.1", "Sender address not owned by authenticated user")
# RFC 6531 §3.2: a non-ASCII address without SMTPUTF8 on the transaction is refused with 553 5.6.7.
C553_UTF8_REQUIRED = Reply(553, "5.6.7", "SMTPUTF8 required for non-ASCII address")
C554_TRANSACTION_FAILED = Reply(554, "5.0.0", "Transaction failed")  # RFC 5321 §4.2.3
C554_NO_VALID_RECIPIENTS = Reply(554, "5.5.1", "No valid recipients")  # RFC 3030 §2 (BDAT)
C555_UNKNOWN_PARAM = Reply(555, "5.5.4", "MAIL FROM/RCPT TO parameter not recognized")  # §4.1.1.11

# --- inbound policy (smtp/inbound.py, smtp/aio.py) ----------------------------------------
C502_EXPN_DISABLED = Reply(502, "5.5.1", "EXPN not available")  # RFC 5321 §3.5.2: optional
C502_AUTH_NOT_OFFERED = Reply(502, "5.5.1", "AUTH not available on this port; use submission")
C421_TOO_MANY_CONNECTIONS = Reply(421, "4.7.0", "Too many connections, try again later")
C552_HEADER_TOO_BIG = Reply(552, "5.3.4", "Message header section too large")
# RFC 5321 §4.5.3.1.6: a text line is at most 1000 octets with its CRLF.
C550_LINE_TOO_LONG = Reply(550, "5.6.0", "Message has a line longer than allowed")
C550_NUL_IN_DATA = Reply(550, "5.6.0", "Message contains a NUL octet")  # RFC 5322 §3.5
# RFC 5321 §2.3.8: lines end with CRLF only; bare CR/LF is how SMTP smuggling fakes an end of data.
C550_BARE_LINE_ENDING = Reply(
    550, "5.6.0", "Message contains a bare CR or LF; lines must end with CRLF"
)

# --- sender authentication and local policy on the MX listener (smtp/screening.py) -----------
# RFC 3463 §3.8 X.7.1 "delivery not authorized, message refused" for every policy refusal; the
# texts are completed with the client, sender, zone or domain by `.with_text`.
C554_CLIENT_BLOCKED = Reply(554, "5.7.1", "Service unavailable; client blocked by local policy")
C554_SENDER_BLOCKED = Reply(554, "5.7.1", "Sender blocked by local policy")
C554_DNSBL_LISTED = Reply(554, "5.7.1", "Service unavailable; client listed in a DNS blocklist")
# RFC 7489 §6.6.3 / §10.3: a p=reject failure is refused in the SMTP transaction, 550 5.7.1.
C550_DMARC_REJECT = Reply(550, "5.7.1", "Rejected by DMARC policy")
C550_SPF_FAIL = Reply(550, "5.7.1", "Rejected: SPF check failed")  # RFC 7208 §8.4
