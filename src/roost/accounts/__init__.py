"""Accounts: password hashing and address normalisation shared by the CLI, SMTP AUTH and RCPT."""

from roost.accounts.addresses import base_address, is_catch_all, normalize_address, normalize_domain
from roost.accounts.passwords import hash_password, needs_rehash, verify_password

__all__ = [
    "base_address",
    "hash_password",
    "is_catch_all",
    "needs_rehash",
    "normalize_address",
    "normalize_domain",
    "verify_password",
]
