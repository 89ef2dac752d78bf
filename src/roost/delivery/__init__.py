"""Outbound delivery: the SMTP client session (RFC 5321) and what it may send (RFC 6152, 6531)."""
