"""MTA-STS (RFC 8461): discover, fetch, parse and cache a domain's TLS policy for its MX hosts.

A domain announces a policy with a TXT record at `_mta-sts.<domain>` ("v=STSv1; id=...") and
serves it over HTTPS at `https://mta-sts.<domain>/.well-known/mta-sts.txt`. The policy says
which MX names are legitimate and whether a sender must insist on a verified certificate
(`enforce`), only report problems (`testing`), or forget the policy (`none`).

Why a small HTTP/1.1 client of our own: the project has no HTTP library, and a policy fetch
needs only one GET with strict limits (no redirects, §3.3; 64 KiB; a timeout) that are easier
to guarantee in sixty lines than to configure in a general client.

Caching (§5.1): the store keeps each policy with its id and expiry, so a restart (or another
node) does not refetch. A cached policy is refetched when the TXT id changes or it expired, and
an unexpired one stays in force when the TXT record disappears or a fetch fails: an attacker
who can block the fetch must not be able to switch the policy off.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from roost.config.model import DeliveryConfig
from roost.dns import DnsError, Resolver
from roost.obs.log import log_event
from roost.store.aio import AsyncStore
from roost.store.types import CachedPolicy

log = logging.getLogger("roost.delivery.mtasts")

StsMode = Literal["enforce", "testing", "none"]
Clock = Callable[[], datetime]
HostResolver = Callable[[str], Awaitable[list[str]]]

MAX_AGE_CAP = 31_557_600  # §3.2: a year; larger values are capped
MAX_POLICY_BYTES = 64 * 1024  # §3.3: senders may limit the body; 64 KiB is generous
MAX_HEADER_BYTES = 16 * 1024
POLICY_PATH = "/.well-known/mta-sts.txt"
_ID = re.compile(r"[A-Za-z0-9]{1,32}")  # §3.1: sts-id = 1*32(ALPHA / DIGIT)

# RFC 8460 §4.3.2.1 result types for a policy that could not be used.
FETCH_ERROR = "sts-policy-fetch-error"
POLICY_INVALID = "sts-policy-invalid"
WEBPKI_INVALID = "sts-webpki-invalid"


class PolicyError(Exception):
    """The policy could not be fetched or used; `result_type` names it for TLS-RPT."""

    def __init__(self, result_type: str, reason: str) -> None:
        super().__init__(reason)
        self.result_type = result_type


@dataclass(frozen=True, slots=True)
class MtaStsPolicy:
    """A parsed policy; `text` is kept verbatim for the cache and TLS-RPT's policy-string."""

    mode: StsMode
    mx: tuple[str, ...]  # patterns, lower case; "*.example.net" matches one label
    max_age: int
    text: str

    @property
    def lines(self) -> list[str]:
        """The policy's non-empty lines, as RFC 8460 §4.4 policy-string wants them."""
        return [line.strip() for line in self.text.splitlines() if line.strip()]


@dataclass(frozen=True, slots=True)
class StsLookup:
    """What delivery to a domain should use: a policy (maybe none) and any failure to report.

    `failure` is an RFC 8460 result type when discovery went wrong (fetch error, invalid
    policy); a cached policy may still be in force then (`policy` set, `from_cache` True).
    """

    domain: str
    policy: MtaStsPolicy | None
    policy_id: str = ""
    failure: str | None = None
    detail: str = ""
    from_cache: bool = False


# --- parsing -----------------------------------------------------------------------------------


def parse_txt_id(records: tuple[bytes, ...] | list[bytes]) -> str | None:
    """The policy id from `_mta-sts` TXT records, or None when there is no usable record.

    §3.1: records not starting with "v=STSv1;" are ignored; anything but exactly one left, or
    a malformed one, means "no policy available".
    """
    candidates = [r for r in records if r.startswith(b"v=STSv1;")]
    if len(candidates) != 1:
        return None
    try:
        text = candidates[0].decode("ascii")
    except UnicodeDecodeError:
        return None
    fields = dict(_txt_fields(text))
    policy_id = fields.get("id", "")
    return policy_id if _ID.fullmatch(policy_id) else None


def _txt_fields(text: str) -> list[tuple[str, str]]:
    """ "v=STSv1; id=abc;" -> [("v", "STSv1"), ("id", "abc")]; the first of a key wins."""
    out: list[tuple[str, str]] = []
    for part in text.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key not in dict(out):
            out.append((key.strip(), value.strip()))
    return out


def parse_policy(text: str) -> MtaStsPolicy:
    """§3.2: "key: value" lines (CRLF or LF); unknown keys ignored; raises PolicyError."""
    fields: dict[str, str] = {}
    mx: list[str] = []
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "mx":
            mx.append(value.lower().rstrip("."))
        else:
            fields.setdefault(key, value)
    return _validated(fields, tuple(mx), text)


def _validated(fields: dict[str, str], mx: tuple[str, ...], text: str) -> MtaStsPolicy:
    if fields.get("version") != "STSv1":
        raise PolicyError(POLICY_INVALID, "version is not STSv1")
    mode = fields.get("mode", "")
    if mode not in ("enforce", "testing", "none"):
        raise PolicyError(POLICY_INVALID, f"mode {mode!r} is not enforce, testing or none")
    max_age = fields.get("max_age", "")
    if not (max_age.isascii() and max_age.isdigit() and len(max_age) <= 10):
        raise PolicyError(POLICY_INVALID, f"max_age {max_age!r} is not a number of seconds")
    if mode != "none" and not mx:
        raise PolicyError(POLICY_INVALID, "no mx patterns")
    age = min(int(max_age), MAX_AGE_CAP)
    return MtaStsPolicy(mode, mx, age, text)  # type: ignore[arg-type]


def mx_matches(policy: MtaStsPolicy, host: str) -> bool:
    """§4.1: exact name, or "*.example.net" for exactly one more label on the left."""
    name = host.lower().rstrip(".")
    for pattern in policy.mx:
        if pattern.startswith("*."):
            label, dot, rest = name.partition(".")
            if dot and label and rest == pattern[2:]:
                return True
        elif name == pattern:
            return True
    return False


# --- HTTPS fetch -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FetchSettings:
    ssl_context: ssl.SSLContext  # verifying; the system store in production
    port: int = 443
    timeout: float = 30.0


def fetch_settings(
    config: DeliveryConfig, ssl_context: ssl.SSLContext | None = None
) -> FetchSettings:
    """Production settings: `delivery.mta_sts_port`, the system CA store unless given one."""
    context = ssl_context or ssl.create_default_context()
    return FetchSettings(context, port=config.mta_sts_port)


async def fetch_policy_text(domain: str, settings: FetchSettings, resolve: HostResolver) -> str:
    """GET the policy from `mta-sts.<domain>`; any failure is a PolicyError naming its type."""
    host = f"mta-sts.{domain}"
    addresses = await _policy_addresses(host, resolve)
    try:
        async with asyncio.timeout(settings.timeout):
            return await _get_from_any(host, addresses, settings)
    except TimeoutError:
        raise PolicyError(FETCH_ERROR, f"{host}: timed out") from None


async def _policy_addresses(host: str, resolve: HostResolver) -> list[str]:
    try:
        addresses = await resolve(host)
    except DnsError as exc:
        raise PolicyError(FETCH_ERROR, f"{host}: {exc}") from None
    if not addresses:
        raise PolicyError(FETCH_ERROR, f"{host} has no address")
    return addresses


async def _get_from_any(host: str, addresses: list[str], settings: FetchSettings) -> str:
    """Try each address until one answers; a certificate failure is final (§3.3 PKIX)."""
    last = PolicyError(FETCH_ERROR, f"{host}: no address")
    for ip in addresses:
        try:
            return await _https_get(host, ip, settings)
        except ssl.SSLCertVerificationError as exc:
            raise PolicyError(WEBPKI_INVALID, f"{host}: {exc.verify_message}") from None
        except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
            # ValueError: StreamReader.readline's answer to a header line over the limit
            last = PolicyError(FETCH_ERROR, f"{host} ({ip}): {exc!r}")
    raise last


async def _https_get(host: str, ip: str, settings: FetchSettings) -> str:
    reader, writer = await asyncio.open_connection(
        ip, settings.port, ssl=settings.ssl_context, server_hostname=host, limit=MAX_HEADER_BYTES
    )
    try:
        request = (
            f"GET {POLICY_PATH} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Roost\r\n"
            "Accept: text/plain\r\nConnection: close\r\n\r\n"
        )
        writer.write(request.encode("ascii"))
        await writer.drain()
        return await _read_response(host, reader)
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


async def _read_response(host: str, reader: asyncio.StreamReader) -> str:
    """Status 200 only (no redirects, §3.3), text/plain, body within MAX_POLICY_BYTES."""
    status_line = (await reader.readline()).decode("latin-1").strip()
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise PolicyError(FETCH_ERROR, f"{host}: not an HTTP response: {status_line[:80]!r}")
    if parts[1] != "200":
        raise PolicyError(FETCH_ERROR, f"{host}: HTTP status {status_line[9:80]!r}")
    headers = await _read_headers(reader)
    media = headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "text/plain":
        raise PolicyError(POLICY_INVALID, f"{host}: Content-Type {media!r}, not text/plain")
    body = await _read_body(host, reader, headers)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError(POLICY_INVALID, f"{host}: policy is not UTF-8") from None


async def _read_headers(reader: asyncio.StreamReader) -> dict[str, str]:
    headers: dict[str, str] = {}
    for _ in range(100):
        line = (await reader.readline()).decode("latin-1")
        if line in ("\r\n", "\n", ""):
            return headers
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    raise PolicyError(FETCH_ERROR, "too many HTTP header lines")


async def _read_body(host: str, reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return await _read_chunked(host, reader)
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit() or int(length) > MAX_POLICY_BYTES:
            raise PolicyError(FETCH_ERROR, f"{host}: policy too large ({length} bytes)")
        return await reader.readexactly(int(length))
    body = await reader.read(MAX_POLICY_BYTES + 1)
    while len(body) <= MAX_POLICY_BYTES:
        more = await reader.read(MAX_POLICY_BYTES + 1 - len(body))
        if not more:
            return body
        body += more
    raise PolicyError(FETCH_ERROR, f"{host}: policy larger than {MAX_POLICY_BYTES} bytes")


async def _read_chunked(host: str, reader: asyncio.StreamReader) -> bytes:
    """HTTP/1.1 chunked transfer coding, trailers skipped."""
    body = b""
    while True:
        size_text = (await reader.readline()).split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise PolicyError(FETCH_ERROR, f"{host}: bad chunk size") from None
        if size == 0:
            await _read_headers(reader)  # trailer section
            return body
        if len(body) + size > MAX_POLICY_BYTES:
            raise PolicyError(FETCH_ERROR, f"{host}: policy larger than {MAX_POLICY_BYTES} bytes")
        body += await reader.readexactly(size)
        await reader.readline()


def resolver_addresses(resolver: Resolver) -> HostResolver:
    """Default host lookup through Roost's resolver: IPv6 then IPv4 addresses."""

    async def resolve(host: str) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            pass
        results = await asyncio.gather(
            resolver.aaaa(host), resolver.a(host), return_exceptions=True
        )
        found = [str(ip) for r in results if not isinstance(r, BaseException) for ip in r.addresses]
        errors = [r for r in results if isinstance(r, BaseException)]
        if not found and errors:
            raise errors[0]
        return found

    return resolve


# --- cache -------------------------------------------------------------------------------------


class PolicyCache(Protocol):
    """Where fetched policies are kept between deliveries (the store, or memory in tests)."""

    async def get(self, domain: str) -> CachedPolicy | None: ...
    async def put(self, policy: CachedPolicy) -> None: ...


class StorePolicyCache:
    """The store's MTA-STS table, reached through the store thread."""

    def __init__(self, astore: AsyncStore) -> None:
        self._astore = astore

    async def get(self, domain: str) -> CachedPolicy | None:
        return await self._astore.run(self._astore.store.get_mta_sts_policy, domain)

    async def put(self, policy: CachedPolicy) -> None:
        await self._astore.run(self._astore.store.put_mta_sts_policy, policy)


class MemoryPolicyCache:
    """A dict: for one-off lookups (CLI) and tests that are not about the store."""

    def __init__(self) -> None:
        self.policies: dict[str, CachedPolicy] = {}

    async def get(self, domain: str) -> CachedPolicy | None:
        return self.policies.get(domain)

    async def put(self, policy: CachedPolicy) -> None:
        self.policies[policy.domain] = policy


def _utcnow() -> datetime:
    return datetime.now(UTC)


class MtaStsCache:
    """Answers "which MTA-STS policy applies to this domain now?" (§5.1 discovery and cache)."""

    def __init__(
        self,
        cache: PolicyCache,
        resolver: Resolver,
        settings: FetchSettings,
        *,
        resolve_host: HostResolver | None = None,
        now: Clock = _utcnow,
    ) -> None:
        self._cache = cache
        self._resolver = resolver
        self._settings = settings
        self._resolve_host = resolve_host or resolver_addresses(resolver)
        self._now = now

    async def lookup(self, domain: str) -> StsLookup:
        """The policy in force for `domain` (or none), refetching when §5.1 says so."""
        domain = domain.lower().rstrip(".")
        policy_id = await self._txt_id(domain)
        cached = await self._unexpired(domain)
        if policy_id is None:
            # §5.1: no (usable) TXT record, or DNS trouble: an unexpired cached policy stays
            # in force until it expires.
            return _from_cached(domain, cached) if cached else StsLookup(domain, None)
        if cached is not None and cached.policy_id == policy_id:
            return _from_cached(domain, cached)
        return await self._refresh(domain, policy_id, cached)

    async def _txt_id(self, domain: str) -> str | None:
        try:
            result = await self._resolver.txt(f"_mta-sts.{domain}")
        except DnsError as exc:
            log_event(log, "mta-sts txt failed", logging.INFO, domain=domain, error=str(exc))
            return None
        return parse_txt_id(result.records)

    async def _unexpired(self, domain: str) -> CachedPolicy | None:
        cached = await self._cache.get(domain)
        if cached is None or cached.expires_at <= self._now():
            return None
        return cached

    async def _refresh(self, domain: str, policy_id: str, cached: CachedPolicy | None) -> StsLookup:
        try:
            text = await fetch_policy_text(domain, self._settings, self._resolve_host)
            policy = parse_policy(text)
        except PolicyError as exc:
            log_event(log, "mta-sts fetch failed", logging.WARNING, domain=domain, error=str(exc))
            base = _from_cached(domain, cached) if cached else StsLookup(domain, None)
            return _with_failure(base, exc.result_type, str(exc))
        now = self._now()
        expires = now + timedelta(seconds=policy.max_age)
        await self._cache.put(CachedPolicy(domain, policy_id, text, now, expires))
        log_event(log, "mta-sts policy", domain=domain, id=policy_id, mode=policy.mode)
        return StsLookup(domain, policy, policy_id)


def _from_cached(domain: str, cached: CachedPolicy) -> StsLookup:
    """A cached policy was valid when stored; if it no longer parses, treat it as absent."""
    try:
        policy = parse_policy(cached.text)
    except PolicyError:
        return StsLookup(domain, None)
    return StsLookup(domain, policy, cached.policy_id, from_cache=True)


def _with_failure(base: StsLookup, result_type: str, detail: str) -> StsLookup:
    return StsLookup(base.domain, base.policy, base.policy_id, result_type, detail, base.from_cache)
