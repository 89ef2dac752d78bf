"""`roost user add|list|remove|passwd|quota`: mail accounts, passwords hashed with argon2id."""

from __future__ import annotations

import secrets
import sys

import click

from roost.accounts.addresses import domain_of, normalize_address
from roost.accounts.passwords import hash_password
from roost.cli.context import CliState, fail, pass_state
from roost.cli.output import echo_json, json_option, render
from roost.store.interface import Store

password_stdin_option = click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input (for scripts).",
)


def parse_address(text: str) -> str:
    try:
        return normalize_address(text)
    except ValueError as exc:
        raise fail(str(exc)) from None


def require_local_domain(store: Store, address: str) -> None:
    """Accounts and aliases only make sense in a domain this server accepts mail for."""
    dom = domain_of(address)
    if dom not in store.list_domains():
        raise fail(f"domain {dom} is not local; add it first with `roost domain add {dom}`")


def random_password() -> str:
    return secrets.token_urlsafe(12)


def obtain_password(from_stdin: bool) -> tuple[str, bool]:
    """The new password and whether it was generated (and so must be shown to the operator).

    --password-stdin reads one line; an interactive terminal is prompted twice with hidden
    input; otherwise (a script without --password-stdin) a random password is generated.
    """
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise fail("empty password on standard input")
        return password, False
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        if not password:
            raise fail("empty password")
        return str(password), False
    return random_password(), True


def _announce(email: str, password: str, generated: bool) -> None:
    if generated:
        click.echo(f"password for {email}: {password}")


@click.group()
def user() -> None:
    """Manage mail accounts."""


@user.command()
@click.argument("email")
@password_stdin_option
@pass_state
def add(state: CliState, email: str, password_stdin: bool) -> None:
    """Create the account EMAIL with the default mailboxes."""
    email = parse_address(email)
    with state.store() as store:
        require_local_domain(store, email)
        password, generated = obtain_password(password_stdin)
        store.add_user(email, hash_password(password))
    click.echo(f"added user {email}")
    _announce(email, password, generated)


@user.command(name="list")
@json_option
@pass_state
def list_(state: CliState, as_json: bool) -> None:
    """List accounts."""
    with state.store() as store:
        users = sorted(store.list_users(), key=lambda u: u.email)
    rows = [{"email": u.email, "created_at": u.created_at} for u in users]
    render(rows, [("email", "Email"), ("created_at", "Created")], as_json=as_json, empty="no users")


@user.command()
@click.argument("email")
@pass_state
def remove(state: CliState, email: str) -> None:
    """Delete the account EMAIL with all its mailboxes and messages."""
    email = parse_address(email)
    with state.store() as store:
        store.remove_user(email)
    click.echo(f"removed user {email}")


@user.command()
@click.argument("email")
@password_stdin_option
@pass_state
def passwd(state: CliState, email: str, password_stdin: bool) -> None:
    """Change the password of EMAIL."""
    email = parse_address(email)
    with state.store() as store:
        if store.get_user(email) is None:
            raise fail(f"no user {email}")
        password, generated = obtain_password(password_stdin)
        store.set_password(email, hash_password(password))
    click.echo(f"changed password for {email}")
    _announce(email, password, generated)


_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_size(text: str) -> int | None:
    """`500M`, `2G`, `1048576`, `0` (unlimited for this user) -> octets; `none` -> None (the
    server default). Units are binary (K = 1024)."""
    value = text.strip().upper().removesuffix("B").removesuffix("I")
    if value == "NONE":
        return None
    number, unit = value.rstrip("KMGT"), value[len(value.rstrip("KMGT")) :]
    if not number.isdigit() or unit not in _UNITS:
        raise fail(f"bad size {text!r}: use octets or a number with K, M, G or T, or `none`")
    return int(number) * _UNITS[unit]


def human_size(octets: int) -> str:
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        scale = _UNITS[unit[0]]
        if octets >= scale:
            return f"{octets / scale:.1f} {unit}"
    return f"{octets} B"


@user.command()
@click.argument("email")
@click.argument("size", required=False)
@json_option
@pass_state
def quota(state: CliState, email: str, size: str | None, as_json: bool) -> None:
    """Show the storage used by EMAIL and its limit, or set the limit to SIZE (500M, 2G;
    0 = unlimited; `none` = the server default, mailbox.default_quota)."""
    email = parse_address(email)
    limit = parse_size(size) if size is not None else None
    with state.store() as store:
        if store.get_user(email) is None:
            raise fail(f"no user {email}")
        if size is not None:
            store.set_quota(email, limit)
        usage = store.get_quota(email)
    default = state.config.mailbox.default_quota
    effective = (default if usage.limit is None else usage.limit) or None
    source = "default" if usage.limit is None else "user"
    if as_json:
        echo_json(
            {
                "email": email,
                "used": usage.used,
                "messages": usage.messages,
                "limit": effective,
                "limit_source": source,
            }
        )
        return
    shown = "unlimited" if effective is None else f"{human_size(effective)} ({effective} octets)"
    click.echo(
        f"{email}: {human_size(usage.used)} ({usage.used} octets) in {usage.messages} messages;"
        f" limit {shown}, {'server default' if source == 'default' else 'set for this user'}"
    )
