"""Observability: structured logs keyed by session and queue id."""
