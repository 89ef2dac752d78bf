"""Where an address goes: a local mailbox, a remote recipient, or nowhere (RCPT-time check).

Resolution order for a local domain: user, alias, plus-address base (user+tag -> user) as user
or alias, then the domain's catch-all alias "@domain". Aliases may point at aliases (bounded
depth) and at remote addresses. Resolving at RCPT lets Roost refuse unknown users with 550
instead of accepting and bouncing later (backscatter).
"""

from __future__ import annotations

from dataclasses import dataclass

from roost.accounts.addresses import base_address
from roost.store.types import Directory

MAX_ALIAS_DEPTH = 8


@dataclass(frozen=True, slots=True)
class Target:
    address: str  # where the copy goes (final address after expansion)
    local_user: str | None  # the local user's email, or None for a remote address


def split(address: str) -> tuple[str, str]:
    local, _, domain = address.rpartition("@")
    return local, domain.lower()


def is_local_domain(directory: Directory, address: str) -> bool:
    return split(address)[1] in directory.domains


def resolve(directory: Directory, address: str) -> list[Target] | None:
    """Targets for a recipient in a local domain; None when nobody is there (550 5.1.1)."""
    targets: dict[str, Target] = {}
    if not _expand(directory, address.lower(), targets, depth=0):
        return None
    return list(targets.values())


def _expand(directory: Directory, address: str, out: dict[str, Target], depth: int) -> bool:
    if depth > MAX_ALIAS_DEPTH:
        return False
    if not is_local_domain(directory, address):
        out.setdefault(address, Target(address, None))
        return True
    for candidate in _candidates(address):
        if candidate in directory.users:
            out.setdefault(candidate, Target(candidate, candidate))
            return True
        targets = directory.aliases.get(candidate)
        if targets:
            found = [_expand(directory, t.lower(), out, depth + 1) for t in targets]
            return any(found)
    return False


def _candidates(address: str) -> list[str]:
    base = base_address(address)
    names = [address] if base == address else [address, base]
    return [*names, "@" + split(address)[1]]


def owned_addresses(directory: Directory, user: str) -> set[str]:
    """Addresses an authenticated user may send from: their own and aliases that reach them."""
    owned = {user}
    for source, targets in directory.aliases.items():
        if not source.startswith("@") and user in (t.lower() for t in targets):
            owned.add(source)
    return owned


def may_send_as(directory: Directory, user: str, sender: str) -> bool:
    sender = sender.lower()
    owned = owned_addresses(directory, user)
    return sender in owned or base_address(sender) in owned
