"""Roost's configuration schema: one TOML file, validated at start.

Every field has a default that makes a development server work; `roost init` writes a commented
file with the values an operator usually changes. Unknown keys are errors (a typo must not be
silently ignored).
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


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


class SmtpConfig(_Section):
    bare_line_endings: Literal["reject", "accept"] = Field(
        "reject", description="bare CR or LF in DATA: reject (anti-smuggling) or keep as data"
    )
    group_commit_max: int = Field(256, ge=1, description="messages per storage transaction at most")


class LogConfig(_Section):
    format: Literal["text", "json"] = "text"
    level: Literal["debug", "info", "warning", "error"] = "info"


class DkimConfig(_Section):
    selector: str = "roost"
    key_dir: str = "dkim"


class RoostConfig(_Section):
    server: ServerConfig = ServerConfig()
    storage: StorageConfig = StorageConfig()
    listeners: ListenersConfig = ListenersConfig()
    tls: TlsConfig = TlsConfig()
    dns: DnsConfig = DnsConfig()
    limits: LimitsConfig = LimitsConfig()
    relay: RelayConfig = RelayConfig()
    smtp: SmtpConfig = SmtpConfig()
    log: LogConfig = LogConfig()
    dkim: DkimConfig = DkimConfig()
