"""`roost dkim keygen|list|dns`: DKIM signing keys and the DNS records to publish for them.

Keys live at `<dkim.key_dir>/<domain>.<selector>.pem` (RFC 6376 §3.6.1 selectors let several keys
coexist). Rotation is: `keygen DOMAIN --selector NEW`, publish the printed record, wait for it to
be visible, set `dkim.selectors.DOMAIN = "NEW"` in the config; the signer picks the new key up
without a restart. Keep the old record published for a few days so mail in transit verifies.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from roost.auth import dkim_keys
from roost.cli.context import CliState, fail, pass_state
from roost.cli.domain import parse_domain
from roost.cli.output import echo_json, json_option, render
from roost.config import RoostConfig, resolve_path

# RFC 6376 §3.1 allows dotted selectors, but the key file name <domain>.<selector>.pem must stay
# unambiguous, so Roost's selectors are a single DNS label.
_SELECTOR = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_TXT_CHUNK = 255  # RFC 1035 §3.3.14: one character-string holds at most 255 octets


def key_dir(config: RoostConfig) -> Path:
    return resolve_path(config, config.dkim.key_dir)


def active_selector(config: RoostConfig, domain: str) -> str:
    """The selector the config says signs for the domain (same rule as DkimSigner)."""
    selectors = {d.lower(): s for d, s in config.dkim.selectors.items()}
    return selectors.get(domain, config.dkim.selector)


def check_selector(selector: str) -> str:
    if not _SELECTOR.match(selector):
        raise fail(f"selector {selector!r} must be one DNS label (letters, digits, '-')")
    return selector


def zone_line(name: str, value: str) -> str:
    """A zone-file TXT line, the value split into 255-octet strings (RSA records are longer)."""
    chunks = [value[i : i + _TXT_CHUNK] for i in range(0, len(value), _TXT_CHUNK)]
    return f"{name}. IN TXT " + " ".join(f'"{c}"' for c in chunks)


def print_record(domain: str, selector: str, record: str) -> None:
    name = dkim_keys.dns_name(domain, selector)
    click.echo(f"name:  {name}")
    click.echo(f"value: {record}")
    click.echo(f"zone:  {zone_line(name, record)}")


@click.group()
def dkim() -> None:
    """Manage DKIM signing keys."""


@dkim.command()
@click.argument("domain_name", metavar="DOMAIN")
@click.option("--selector", help="Key selector (default: the one the config uses for DOMAIN).")
@click.option(
    "--algorithm", type=click.Choice(["rsa", "ed25519"]), default="rsa", show_default=True
)
@click.option("--bits", type=click.IntRange(1024, 8192), default=2048, show_default=True)
@click.option("--force", is_flag=True, help="Replace an existing key file.")
@pass_state
def keygen(
    state: CliState,
    domain_name: str,
    selector: str | None,
    algorithm: dkim_keys.KeyType,
    bits: int,
    force: bool,
) -> None:
    """Create a signing key for DOMAIN and print the DNS TXT record to publish."""
    config = state.config
    domain_name = parse_domain(domain_name)
    selector = check_selector(
        active_selector(config, domain_name) if selector is None else selector
    )
    path = dkim_keys.key_path(key_dir(config), domain_name, selector)
    if path.exists() and not force:
        raise fail(f"{path} exists; use --force to replace it (its DNS record changes too)")
    key = dkim_keys.generate(algorithm, bits)
    dkim_keys.write_key(path, key)
    click.echo(f"wrote {path}")
    click.echo("publish this TXT record:")
    print_record(domain_name, selector, dkim_keys.dns_record(key.public_key()))
    if selector != active_selector(config, domain_name):
        click.echo(f'then sign with it: set dkim.selectors."{domain_name}" = "{selector}"')


def _describe(path: Path, config: RoostConfig) -> dict[str, Any] | None:
    """One key file as a row; None for a file that is not <domain>.<selector>.pem."""
    domain_name, _, selector = path.name.removesuffix(".pem").rpartition(".")
    if not domain_name or not selector:
        return None
    row: dict[str, Any] = {
        "domain": domain_name,
        "selector": selector,
        "algorithm": None,
        "bits": None,
        "active": active_selector(config, domain_name) == selector,
        "key_file": str(path),
    }
    try:
        key = dkim_keys.load_key(path)
    except (OSError, ValueError, TypeError):
        row["algorithm"] = "unreadable"
        return row
    if isinstance(key, ed25519.Ed25519PrivateKey):
        row["algorithm"], row["bits"] = "ed25519", 256
    elif isinstance(key, rsa.RSAPrivateKey):
        row["algorithm"], row["bits"] = "rsa", key.key_size
    return row


@dkim.command(name="list")
@json_option
@pass_state
def list_(state: CliState, as_json: bool) -> None:
    """List key files: domain, selector, algorithm, whether it signs now."""
    config = state.config
    directory = key_dir(config)
    files = sorted(directory.glob("*.pem")) if directory.is_dir() else []
    rows = [r for r in (_describe(p, config) for p in files) if r is not None]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        row["active"] = "yes" if row["active"] else ""
    columns = [
        ("domain", "Domain"),
        ("selector", "Selector"),
        ("algorithm", "Algorithm"),
        ("bits", "Bits"),
        ("active", "Active"),
        ("key_file", "Key file"),
    ]
    render(rows, columns, as_json=False, empty=f"no DKIM keys in {directory}")


@dkim.command()
@click.argument("domain_name", metavar="DOMAIN")
@click.option("--selector", help="Key selector (default: the one the config uses for DOMAIN).")
@json_option
@pass_state
def dns(state: CliState, domain_name: str, selector: str | None, as_json: bool) -> None:
    """Print the TXT record name and value for DOMAIN's key."""
    config = state.config
    domain_name = parse_domain(domain_name)
    selector = check_selector(
        active_selector(config, domain_name) if selector is None else selector
    )
    path = dkim_keys.key_path(key_dir(config), domain_name, selector)
    if not path.exists():
        raise fail(
            f"no DKIM key for {domain_name} with selector {selector} ({path}); "
            f"create one with: roost dkim keygen {domain_name} --selector {selector}"
        )
    try:
        record = dkim_keys.dns_record(dkim_keys.load_key(path).public_key())
    except ValueError as exc:
        raise fail(f"{path}: {exc}") from None
    if as_json:
        echo_json({"name": dkim_keys.dns_name(domain_name, selector), "value": record})
        return
    print_record(domain_name, selector, record)
