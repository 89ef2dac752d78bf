"""`roost init`: a working, commented installation in one command.

Writes DIR/roost.toml (only the keys operators usually change, each explained; the rest keep
their defaults), a self-signed TLS pair, a DKIM key, creates the store with the domain and a
demo user, and prints the DNS records to publish. Existing keys are kept under --force: a new
DKIM key would silently invalidate the record already published in DNS.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import tomlkit
from tomlkit.items import Table

from roost.accounts.passwords import hash_password
from roost.auth import dkim_keys
from roost.cli.context import fail, open_store_for
from roost.cli.domain import parse_domain
from roost.cli.user import random_password
from roost.config import RoostConfig, load_config, resolve_path
from roost.store.interface import AlreadyExists, Store
from roost.tlsutil import write_private, write_self_signed

CONFIG_NAME = "roost.toml"

Entry = tuple[str, Any, str | None]  # key, value, comment placed above it


def _table(entries: list[Entry], comment: str | None = None) -> Table:
    table = tomlkit.table()
    if comment:
        table.add(tomlkit.comment(comment))
    for key, value, note in entries:
        if note:
            for line in note.split("\n"):
                table.add(tomlkit.comment(line))
        table.add(key, value)
    return table


_PORTS = {
    "mx": ("Inbound mail from other servers", "25"),
    "submission": ("Your users' mail clients: STARTTLS + AUTH (RFC 6409)", "587"),
    "submissions": ("Your users' mail clients: implicit TLS + AUTH (RFC 8314)", "465"),
}


def _listeners(d: RoostConfig) -> Table:
    listeners = tomlkit.table(is_super_table=True)
    for name, (purpose, port) in _PORTS.items():
        current = getattr(d.listeners, name)
        note = f'{purpose}.\nIn production: "0.0.0.0:{port}" (or "[::]:{port}" for IPv6).'
        entries: list[Entry] = [
            ("enabled", current.enabled, None),
            ("address", current.address, note),
        ]
        listeners.add(name, _table(entries))
    return listeners


def _sections(hostname: str, d: RoostConfig) -> list[tuple[str, str | None, list[Entry]]]:
    """(section, comment, entries) in file order; listeners are added separately."""
    return [
        ("server", "Identity of this server.", [
            ("hostname", hostname,
             "Used in the SMTP greeting, EHLO and Received. It must resolve (A/AAAA)\n"
             "to this server and match the PTR record of its public IP."),
            ("data_dir", ".", "Base of the relative paths below; relative to this file's folder."),
        ]),
        ("storage", "Where mail and accounts are kept.", [
            ("backend", d.storage.backend,
             '"sqlite" for one server; "postgres" for several nodes sharing a database.'),
            ("sqlite_path", d.storage.sqlite_path, None),
            ("postgres_dsn", d.storage.postgres_dsn,
             'Used when backend = "postgres", e.g.\n'
             '"postgresql://roost:secret@db.internal:5432/roost".'),
            ("blob_dir", d.storage.blob_dir, "Message bodies, stored once per content."),
        ]),
        ("tls", None, [
            ("cert", d.tls.cert, "Self-signed by `roost init`; replace with a CA-issued chain."),
            ("key", d.tls.key, None),
        ]),
        ("dns", None, [
            ("nameservers", tomlkit.array(),
             'Resolvers as "host:port"; empty uses the system\'s.\n'
             'Prefer a validating (DNSSEC) resolver, e.g. ["127.0.0.1:53"].'),
        ]),
        ("relay", None, [
            ("networks", d.relay.networks, "Clients that may relay without AUTH: trusted only."),
        ]),
        ("limits", "Protection against abuse; raise for busy relays.", [
            ("max_message_size", d.limits.max_message_size, "Bytes; announced as SIZE (RFC 1870)."),
            ("max_recipients", d.limits.max_recipients, None),
            ("max_connections", d.limits.max_connections, None),
            ("max_connections_per_ip", d.limits.max_connections_per_ip, None),
        ]),
        ("dkim", None, [
            ("selector", d.dkim.selector, "Keys live at <key_dir>/<domain>.<selector>.pem."),
            ("key_dir", d.dkim.key_dir, None),
        ]),
        ("log", None, [("level", d.log.level, None), ("format", d.log.format, None)]),
        ("checks", "Sender authentication on the mx listener (SPF, DKIM, DMARC, ARC).", [
            ("dmarc_reject", d.checks.dmarc_reject,
             'DMARC p=reject failures: "reject" (550 5.7.1), "junk" or "tag" (header only).'),
            ("dmarc_quarantine", d.checks.dmarc_quarantine, "DMARC p=quarantine failures."),
            ("spf_fail_without_dmarc", d.checks.spf_fail_without_dmarc,
             "SPF fail when the From domain publishes no DMARC policy."),
            ("trusted_arc_sealers", tomlkit.array(),
             "Mailing lists/forwarders whose valid ARC seal overrides a DMARC failure,\n"
             'e.g. ["google.com", "lists.example.org"].'),
            ("dmarc_reports", d.checks.dmarc_reports,
             "Mail each day's DMARC aggregate report to the sending domains' rua addresses."),
        ]),
        ("dnsbl", "DNS blocklists, asked at connect (client IP) and MAIL FROM (sender domain).", [
            ("zones", tomlkit.array(),
             'e.g. [{ zone = "zen.spamhaus.org", codes = ["127.0.0.2", "127.0.0.3"] },\n'
             '       { zone = "dbl.spamhaus.org", kind = "domain" }]'),
            ("action", d.dnsbl.action, '"reject" (554 5.7.1) or "tag" (X-Roost-DNSBL header).'),
        ]),
        ("lists", "Local lists: IPs, networks, domains (.example.com: subdomains), addresses.", [
            ("allow", tomlkit.array(), "Skip every check (allow wins over block)."),
            ("block", tomlkit.array(), "Refused with 554 5.7.1."),
        ]),
        ("ratelimit", "Token buckets; excess gets 421 4.7.0 / 451 4.7.1. 0 turns one off.", [
            ("connections_per_ip_per_minute", d.ratelimit.connections_per_ip_per_minute, None),
            ("messages_per_hour_per_ip", d.ratelimit.messages_per_hour_per_ip, None),
            ("messages_per_hour_per_user", d.ratelimit.messages_per_hour_per_user, None),
            ("messages_per_hour_per_sender_domain",
             d.ratelimit.messages_per_hour_per_sender_domain, None),
        ]),
        ("greylist", "Greylisting (RFC 6647): the first try of a new triplet gets 451 4.7.1.", [
            ("enabled", d.greylist.enabled, None),
            ("delay", d.greylist.delay, "Seconds before a retry is accepted."),
        ]),
        ("rspamd", "Content scanner; off while address is empty.", [
            ("address", d.rspamd.address, 'e.g. "127.0.0.1:11333"'),
            ("fail_open", d.rspamd.fail_open, "When rspamd is down: accept (true) or 451 (false)."),
        ]),
        ("clamd", "Virus scanner; off while address is empty.", [
            ("address", d.clamd.address, 'e.g. "127.0.0.1:3310" or "/run/clamav/clamd.ctl"'),
            ("fail_open", d.clamd.fail_open, None),
        ]),
    ]  # fmt: skip


def config_document(hostname: str) -> tomlkit.TOMLDocument:
    """The commented config `roost init` writes; it validates against the schema."""
    d = RoostConfig()
    doc = tomlkit.document()
    doc.add(tomlkit.comment("Roost configuration, written by `roost init`."))
    doc.add(tomlkit.comment("Keys not listed keep their defaults; `roost config show` prints all."))
    doc.add(tomlkit.comment("Change values with `roost config set KEY VALUE` (validated first)."))
    doc.add(tomlkit.nl())
    for name, comment, entries in _sections(hostname, d):
        doc.add(name, _table(entries, comment))
        if name == "storage":
            doc.add("listeners", _listeners(d))
    return doc


@dataclass(frozen=True, slots=True)
class Outcome:
    """What init did, for the summary it prints."""

    config_path: Path
    domain: str
    hostname: str
    demo_user: str
    demo_password: str
    dkim_record: str


def _ensure_tls(config: RoostConfig) -> None:
    cert, key = resolve_path(config, config.tls.cert), resolve_path(config, config.tls.key)
    if not (cert.exists() and key.exists()):
        write_self_signed(cert, key, config.server.hostname)


def _ensure_dkim(config: RoostConfig, domain: str) -> str:
    """The DKIM key for the domain (made if missing) and the TXT value to publish."""
    path = dkim_keys.key_path(
        resolve_path(config, config.dkim.key_dir), domain, config.dkim.selector
    )
    if path.exists():
        key = dkim_keys.load_key(path)
    else:
        key = dkim_keys.generate("rsa", 2048)
        dkim_keys.write_key(path, key)
    return dkim_keys.dns_record(key.public_key())


def _seed_store(store: Store, domain: str, user: str, password: str) -> None:
    """The domain and the demo user; on --force over an existing store, reset the password."""
    with contextlib.suppress(AlreadyExists):
        store.add_domain(domain)
    try:
        store.add_user(user, hash_password(password))
    except AlreadyExists:
        store.set_password(user, hash_password(password))


def _write_config(path: Path, hostname: str) -> None:
    """0600: the file may later hold a PostgreSQL password in its DSN."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, tomlkit.dumps(config_document(hostname)).encode())


def run_init(directory: Path, domain: str, hostname: str) -> Outcome:
    path = directory / CONFIG_NAME
    _write_config(path, hostname)
    config = load_config(path)
    _ensure_tls(config)
    record = _ensure_dkim(config, domain)
    user, password = f"demo@{domain}", random_password()
    store = open_store_for(config)
    try:
        _seed_store(store, domain, user, password)
    finally:
        store.close()
    return Outcome(path, domain, hostname, user, password, record)


def txt_strings(value: str, size: int = 255) -> str:
    """A TXT value as zone-file strings; one string holds at most 255 octets (RFC 1035 §3.3)."""
    parts = [value[i : i + size] for i in range(0, len(value), size)]
    return " ".join(f'"{p}"' for p in parts)


def dns_records(out: Outcome, selector: str) -> list[tuple[str, str, str]]:
    """(owner, type, data) for MX, SPF, DKIM and DMARC."""
    d = out.domain
    dmarc = f"v=DMARC1; p=quarantine; rua=mailto:postmaster@{d}"
    return [
        (f"{d}.", "MX", f"10 {out.hostname}."),
        (f"{d}.", "TXT", txt_strings("v=spf1 mx -all")),
        (f"{dkim_keys.dns_name(d, selector)}.", "TXT", txt_strings(out.dkim_record)),
        (f"_dmarc.{d}.", "TXT", txt_strings(dmarc)),
    ]


def _report(out: Outcome, config: RoostConfig) -> None:
    click.echo(f"Initialised Roost: {out.config_path}")
    click.echo(
        f"  TLS:  {resolve_path(config, config.tls.cert)} (self-signed; replace for production)"
    )
    click.echo(f"  DKIM: selector {config.dkim.selector!r} for {out.domain}")
    click.echo(f"Demo account {out.demo_user}")
    click.echo(f"  password: {out.demo_password}")
    click.echo("")
    click.echo(f"DNS records to publish (and A/AAAA + PTR for {out.hostname}):")
    for owner, rtype, data in dns_records(out, config.dkim.selector):
        click.echo(f"{owner:<40} IN {rtype:<4} {data}")


@click.command()
@click.option("--dir", "directory", default="var", show_default=True, help="Folder to create.")
@click.option("--domain", default="example.test", show_default=True, help="First local domain.")
@click.option("--hostname", default=None, help="Server FQDN (default: mail.<domain>).")
@click.option("--force", is_flag=True, help="Rewrite the config even if it exists (keys are kept).")
def init(directory: str, domain: str, hostname: str | None, force: bool) -> None:
    """Create a config, TLS and DKIM keys, the store, a domain and a demo user."""
    domain = parse_domain(domain)
    hostname = parse_domain(hostname) if hostname else f"mail.{domain}"
    path = Path(directory) / CONFIG_NAME
    if path.exists() and not force:
        raise fail(f"{path} exists: already initialised; nothing changed (--force to redo)")
    out = run_init(Path(directory), domain, hostname)
    _report(out, load_config(out.config_path))
