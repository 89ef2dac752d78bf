"""Roost: a complete mail server platform (SMTP, queue, delivery, IMAP/POP3)."""

__version__ = "0.1.0"
