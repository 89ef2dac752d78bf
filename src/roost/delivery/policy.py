"""The TLS a destination gets: configuration and MTA-STS (RFC 8461) combined into one answer.

Three sources, and the strongest wins (none < may < encrypt < verify), so a policy published by
the recipient can only raise what the operator configured, never lower it:

* `delivery.tls_policy[domain]`, else `delivery.default_tls` (opportunistic STARTTLS, RFC 3207);
  mail through the smarthost uses `delivery.smarthost.tls` instead;
* MTA-STS `enforce`: MX hosts the policy does not list are never tried, and every connection
  needs a certificate valid for the MX name ("verify"); a failure defers (§5);
* MTA-STS `testing`: delivery as configured, failures only reported through TLS-RPT (§5.2).

MTA-STS describes a domain's own MX hosts, so it is not consulted when the transport map, the
smarthost or an address literal picks the next hop.
"""

from __future__ import annotations

import functools
import ssl
from dataclasses import dataclass, replace

from roost.config.model import DeliveryConfig, TlsMode
from roost.delivery.mtasts import MtaStsCache, MtaStsPolicy, StsLookup, mx_matches
from roost.delivery.mx import Hop, Route, next_hop_kind, normalise_domain
from roost.delivery.smtp_session import TlsRequirement
from roost.dns import Resolver
from roost.smtp.reply import Reply

_STRENGTH: dict[TlsMode, int] = {"none": 0, "may": 1, "encrypt": 2, "verify": 3}

# X.7.0 (other security status): the policy forbids every MX the DNS offered.
C451_NO_POLICY_MX = Reply(451, "4.7.0", "No MX host matches the domain's MTA-STS policy")


@dataclass(frozen=True, slots=True)
class TlsContexts:
    """SSL contexts built once: creating one loads the CA store, too slow per connection."""

    verify: ssl.SSLContext  # CERT_REQUIRED, check_hostname
    opportunistic: ssl.SSLContext  # encrypts, any certificate: beats plaintext


@functools.lru_cache(maxsize=8)
def tls_contexts(ca_file: str = "") -> TlsContexts:
    """Contexts trusting `ca_file` (an absolute path), or the system store when empty."""
    verify = ssl.create_default_context(cafile=ca_file or None)
    verify.minimum_version = ssl.TLSVersion.TLSv1_2  # RFC 8996
    opportunistic = ssl.create_default_context()
    opportunistic.check_hostname = False
    opportunistic.verify_mode = ssl.CERT_NONE
    return TlsContexts(verify, opportunistic)


@dataclass(frozen=True, slots=True)
class DomainTls:
    """The effective TLS policy for one destination domain."""

    domain: str
    mode: TlsMode  # what the configuration asks for, before MTA-STS
    contexts: TlsContexts
    sts: StsLookup | None = None  # None: MTA-STS not consulted (disabled or not an MX route)

    @property
    def sts_policy(self) -> MtaStsPolicy | None:
        return self.sts.policy if self.sts is not None else None

    @property
    def sts_mode(self) -> str | None:
        policy = self.sts_policy
        return policy.mode if policy is not None else None

    @property
    def effective_mode(self) -> TlsMode:
        """The configured mode, raised to "verify" by an enforced MTA-STS policy."""
        if self.sts_mode == "enforce" and _STRENGTH[self.mode] < _STRENGTH["verify"]:
            return "verify"
        return self.mode

    def allows(self, mx_host: str) -> bool:
        """Under `enforce`, only MX hosts the policy lists may be tried (§4.1)."""
        policy = self.sts_policy
        if policy is None or policy.mode != "enforce":
            return True
        return mx_matches(policy, mx_host)

    def excluded(self, route: Route) -> tuple[str, ...]:
        """The MX names of `route` that `filter` drops, for TLS-RPT (validation-failure)."""
        return tuple(h for h in route.mx_hosts if not self.allows(h))

    def filter(self, route: Route) -> Route:
        """`route` without the hops the policy forbids; none left means defer (§5)."""
        if route.error is not None:
            return route
        hops = tuple(h for h in route.hops if self.allows(h.mx_host))
        if hops == route.hops:
            return route
        if not hops:
            return replace(route, hops=(), error="temporary", reply=C451_NO_POLICY_MX)
        return replace(route, hops=hops)


def configured_mode(domain: str, config: DeliveryConfig) -> TlsMode:
    """The operator's mode for `domain`: smarthost setting, per-domain entry, or default."""
    name = normalise_domain(domain)
    if next_hop_kind(name, config) == "smarthost":
        return config.smarthost.tls
    return config.tls_policy.get(name, config.default_tls)


async def tls_for(
    domain: str,
    config: DeliveryConfig,
    mtasts: MtaStsCache | None,
    resolver: Resolver,
    *,
    contexts: TlsContexts | None = None,
) -> DomainTls:
    """Effective TLS for `domain`; consults MTA-STS only for MX routes and when enabled.

    `resolver` is unused while MTA-STS brings its own; it is here for DANE (TLSA) later.
    `contexts` defaults to ones built from `config.tls_ca_file` (which must then be absolute).
    """
    del resolver
    name = normalise_domain(domain)
    ctx = contexts or tls_contexts(config.tls_ca_file)
    mode = configured_mode(name, config)
    sts: StsLookup | None = None
    if mtasts is not None and config.mta_sts and next_hop_kind(name, config) == "mx":
        sts = await mtasts.lookup(name)
    return DomainTls(name, mode, ctx, sts)


def requirement(domain_tls: DomainTls, hop: Hop) -> TlsRequirement:
    """What smtp_session must do on this hop: mode, context, and SNI / checked name = MX host."""
    mode = domain_tls.effective_mode
    contexts = domain_tls.contexts
    context = contexts.verify if mode == "verify" else contexts.opportunistic
    if mode == "none":
        return TlsRequirement("none")
    return TlsRequirement(mode, context, hop.mx_host)
