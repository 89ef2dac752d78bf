"""Roost's configuration schema: one TOML file, validated at start.

Every field has a default that makes a development server work; `roost init` writes a commented
file with the values an operator usually changes. Unknown keys are errors (a typo must not be
silently ignored).
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from roost.config.inbound import (
    ChecksConfig,
    DnsblConfig,
    GreylistConfig,
    ListsConfig,
    RateLimitConfig,
    ScannerConfig,
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _check_hostport(value: str, lowest_port: int = 1) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not lowest_port <= int(port) < 65536:
        raise ValueError(f"{value!r} is not host:port (e.g. '127.0.0.1:2525' or '[::1]:25')")
    return value


class ServerConfig(_Section):
    hostname: str = Field("localhost", description="FQDN used in the greeting, EHLO and Received")
    data_dir: str = Field(
        ".", description="Base for the relative paths below; relative to the config file's folder"
    )
    node_id: str = Field("", description="Name of this node in a cluster; the hostname when empty")


class StorageConfig(_Section):
    backend: Literal["sqlite", "postgres"] = "sqlite"
    sqlite_path: str = "roost.db"
    postgres_dsn: str = "postgresql://127.0.0.1:5432/roost"
    postgres_schema: str = Field("roost", pattern=r"^[a-z_][a-z0-9_]*$")
    blob_dir: str = "blobs"
    inline_blob_max: int = Field(
        64 * 1024,
        ge=0,
        le=16 * 1024 * 1024,
        description="bodies up to this size live in the database, committed with their queue "
        "rows (one fsync per batch); larger ones in blob_dir",
    )


class ListenerConfig(_Section):
    enabled: bool = True
    address: str = "127.0.0.1:2525"

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return _check_hostport(value, lowest_port=0)  # port 0: any free port (tests)


class ListenersConfig(_Section):
    mx: ListenerConfig = ListenerConfig(address="127.0.0.1:2525")
    submission: ListenerConfig = ListenerConfig(address="127.0.0.1:2587")
    submissions: ListenerConfig = ListenerConfig(address="127.0.0.1:2465")
    pop3: ListenerConfig = ListenerConfig(address="127.0.0.1:2110")  # STLS (RFC 2595)
    pop3s: ListenerConfig = ListenerConfig(address="127.0.0.1:2995")  # implicit TLS (RFC 8314)
    imap: ListenerConfig = ListenerConfig(address="127.0.0.1:2143")  # STARTTLS (RFC 9051 §6.2.1)
    imaps: ListenerConfig = ListenerConfig(address="127.0.0.1:2993")  # implicit TLS (RFC 8314)


class TlsConfig(_Section):
    cert: str = Field("tls/cert.pem", description="PEM certificate chain")
    key: str = Field("tls/key.pem", description="PEM private key")


class DnsConfig(_Section):
    nameservers: list[str] = Field(default_factory=list, description="host:port; system when empty")
    timeout: float = Field(5.0, gt=0)

    @field_validator("nameservers")
    @classmethod
    def _servers(cls, value: list[str]) -> list[str]:
        return [_check_hostport(v) for v in value]


class LimitsConfig(_Section):
    max_message_size: int = Field(50 * 1024 * 1024, ge=1024, description="SIZE (RFC 1870)")
    max_recipients: int = Field(
        100, ge=1, description="RCPTs per transaction (RFC 5321 §4.5.3.1.8)"
    )
    max_line_length: int = Field(1000, ge=1000, description="message line incl. CRLF (§4.5.3.1.6)")
    max_header_size: int = Field(
        1024 * 1024, ge=1024, description="bytes before the first empty line"
    )
    max_connections: int = Field(1000, ge=1)
    max_connections_per_ip: int = Field(50, ge=1)
    command_timeout: float = Field(300.0, gt=0, description="RFC 5321 §4.5.3.2.7: 5 minutes")
    data_timeout: float = Field(600.0, gt=0, description="per DATA block (§4.5.3.2.5/6)")
    max_errors: int = Field(10, ge=1, description="protocol errors before the client is dropped")
    error_delay_after: int = Field(3, ge=0, description="errors before replies are delayed")
    error_delay: float = Field(1.0, ge=0, description="seconds added per error past the threshold")


class RelayConfig(_Section):
    networks: list[str] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"],
        description="clients allowed to relay without AUTH (trusted relays)",
    )

    @field_validator("networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for net in value:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError as exc:
                raise ValueError(f"{net!r} is not a network (e.g. '10.0.0.0/8')") from exc
        return value


def _check_networks(value: list[str]) -> list[str]:
    for net in value:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError as exc:
            raise ValueError(f"{net!r} is not a network (e.g. '10.0.0.0/8')") from exc
    return value


class AuthConfig(_Section):
    """Brute-force protection for every login (SMTP AUTH, POP3, IMAP): see accounts/authservice."""

    max_failures_per_ip: int = Field(
        10, ge=1, description="failed logins from one address (IPv6: one /64) before it is blocked"
    )
    max_failures_per_account: int = Field(
        5, ge=1, description="failed logins to one account, from anywhere, before it is blocked"
    )
    window_seconds: float = Field(600.0, gt=0, description="failures older than this are forgotten")
    block_seconds: float = Field(900.0, gt=0, description="how long a block lasts")
    exempt_networks: list[str] = Field(
        default_factory=list,
        description="clients never counted nor blocked (e.g. a webmail front end); loopback "
        "is not exempt unless listed",
    )
    max_tracked: int = Field(
        100_000, ge=1, description="addresses (and accounts) remembered at most; oldest go first"
    )

    @field_validator("exempt_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        return _check_networks(value)


class SmtpConfig(_Section):
    bare_line_endings: Literal["reject", "accept"] = Field(
        "reject", description="bare CR or LF in DATA: reject (anti-smuggling) or keep as data"
    )
    group_commit_max: int = Field(256, ge=1, description="messages per storage transaction at most")


class Pop3Config(_Section):
    auth_plaintext_without_tls: bool = Field(
        False, description="allow USER/PASS/AUTH before STLS (RFC 2595 §2.1: refuse by default)"
    )
    idle_timeout: float = Field(
        600.0, gt=0, description="seconds a silent client is kept (RFC 1939 §3: >= 10 minutes)"
    )


class ImapConfig(_Section):
    auth_plaintext_without_tls: bool = Field(
        False, description="allow LOGIN/AUTHENTICATE before STARTTLS (RFC 9051 §11.1: refuse)"
    )
    idle_timeout: float = Field(
        1800.0, gt=0, description="seconds a silent client is kept (RFC 9051 §5.4: >= 30 minutes)"
    )
    max_line: int = Field(
        65536, ge=1024, description="longest command line accepted, literals excluded (octets)"
    )
    max_literal: int = Field(
        64 * 1024 * 1024, ge=1024, description="largest literal (APPEND message) accepted"
    )
    cache_size: int = Field(
        128 * 1024 * 1024,
        ge=0,
        description="octets of fetched header fields, sizes and searched field values kept in "
        "memory for the next FETCH or SEARCH of the same mailbox (0: keep none)",
    )


class MailboxConfig(_Section):
    default_quota: int = Field(
        0,
        ge=0,
        description="octets each user may store in all their mailboxes (0: no limit); "
        "`roost user quota EMAIL SIZE` sets one user's",
    )


class LogConfig(_Section):
    format: Literal["text", "json"] = "text"
    level: Literal["debug", "info", "warning", "error"] = "info"


TlsMode = Literal["none", "may", "encrypt", "verify"]


class DkimConfig(_Section):
    selector: str = Field("roost", description="selector used for a domain not in `selectors`")
    key_dir: str = "dkim"
    selectors: dict[str, str] = Field(
        default_factory=dict,
        description="domain -> selector that signs now (key rotation: publish the new "
        "selector's record, then switch it here)",
    )
    sign: bool = Field(True, description="sign mail from local domains on its way out")


class RetryConfig(_Section):
    first: float = Field(300.0, gt=0, description="seconds before the first retry")
    max_interval: float = Field(4 * 3600.0, gt=0, description="backoff cap between tries")
    max_lifetime: float = Field(5 * 86400.0, gt=0, description="then the message bounces")
    delay_warning: float = Field(
        4 * 3600.0, ge=0, description="send a delay DSN after this long; 0 disables"
    )
    jitter: float = Field(0.2, ge=0, le=1, description="random +/- fraction of each interval")


class SmarthostConfig(_Section):
    address: str = Field("", description="host:port that relays everything; empty: use MX")
    username: str = ""
    password: str = ""
    tls: TlsMode = "verify"


class DeliveryConfig(_Section):
    enabled: bool = True
    mx_port: int = Field(25, ge=1, lt=65536, description="SMTP port of remote MX hosts")
    helo_name: str = Field("", description="name in EHLO; server.hostname when empty")
    max_connections: int = Field(100, ge=1, description="outbound connections in total")
    max_connections_per_domain: int = Field(10, ge=1)
    max_connections_per_host: int = Field(5, ge=1)
    max_messages_per_minute_per_domain: int = Field(0, ge=0, description="0: no limit")
    max_messages_per_minute_per_host: int = Field(0, ge=0, description="per MX host; 0: no limit")
    messages_per_connection: int = Field(100, ge=1, description="reuse a connection this often")
    retry: RetryConfig = RetryConfig()
    transport: dict[str, str] = Field(
        default_factory=dict,
        description="destination domain -> next hop 'host:port' (MX lookup) or "
        "'[host]:port' (no MX lookup), like Postfix transport_maps",
    )
    smarthost: SmarthostConfig = SmarthostConfig()
    source_addresses: dict[str, str] = Field(
        default_factory=dict, description="sender domain -> local IP address to send from"
    )
    default_tls: TlsMode = Field("may", description="opportunistic STARTTLS (RFC 3207)")
    tls_policy: dict[str, TlsMode] = Field(
        default_factory=dict, description="destination domain -> none | may | encrypt | verify"
    )
    mta_sts: bool = Field(True, description="honour MTA-STS policies (RFC 8461)")
    mta_sts_port: int = Field(443, ge=1, lt=65536, description="HTTPS port for policy fetches")
    tls_ca_file: str = Field("", description="CA bundle for verification; system when empty")
    tlsrpt: bool = Field(True, description="record TLS results and mail daily reports (RFC 8460)")
    verp_domain: str = Field(
        "",
        description="local domain for VERP return paths (bounces+<rcpt>+<sender>@domain): "
        "DSNs sent there are parsed and feed the suppression list; empty disables",
    )
    lease_seconds: float = Field(600.0, gt=0, description="a claimed message is retried after")
    poll_interval: float = Field(1.0, gt=0, description="seconds between queue scans")


class RoostConfig(_Section):
    server: ServerConfig = ServerConfig()
    storage: StorageConfig = StorageConfig()
    listeners: ListenersConfig = ListenersConfig()
    tls: TlsConfig = TlsConfig()
    dns: DnsConfig = DnsConfig()
    limits: LimitsConfig = LimitsConfig()
    relay: RelayConfig = RelayConfig()
    smtp: SmtpConfig = SmtpConfig()
    pop3: Pop3Config = Pop3Config()
    imap: ImapConfig = ImapConfig()
    mailbox: MailboxConfig = MailboxConfig()
    auth: AuthConfig = AuthConfig()
    log: LogConfig = LogConfig()
    dkim: DkimConfig = DkimConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    checks: ChecksConfig = ChecksConfig()
    dnsbl: DnsblConfig = DnsblConfig()
    lists: ListsConfig = ListsConfig()
    ratelimit: RateLimitConfig = RateLimitConfig()
    greylist: GreylistConfig = GreylistConfig()
    rspamd: ScannerConfig = ScannerConfig()
    clamd: ScannerConfig = ScannerConfig()
