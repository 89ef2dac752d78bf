"""Screening of mail arriving on the MX listener: who really sent it, and what to do with it.

One `Screening` per process is built from the config (`[checks]`, `[dnsbl]`, `[lists]`,
`[ratelimit]`, `[greylist]`, `[rspamd]`, `[clamd]`); each SMTP session asks it for a
`ClientScreen` at connect and calls that at MAIL, RCPT and the end of data. The checks
themselves live in `auth/` and `policy/`; this module decides when to run them, overlaps the
slow ones with the SMTP dialogue (DNSBL from connect to MAIL, SPF from MAIL to end of data) and
turns their results into a reply, a Junk flag and the header lines stored above Received.

Submission and relay-network clients are not judged (only the per-user message rate applies);
an allow-listed client skips everything. Every DNS lookup goes through the async resolver and
every pass over a large message runs in a thread, so no check blocks the event loop. DNS
trouble fails open: a temperror never refuses mail.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import re
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import dkim
from cryptography.hazmat.primitives.asymmetric import rsa
from dkim.util import InvalidTagValueList, parse_tag_value

from roost.auth import dkim_keys
from roost.auth.arc import ArcResult, seal, verify_arc
from roost.auth.authresults import SpfReport, authentication_results, strip_forged
from roost.auth.dkim import DkimSigner
from roost.auth.dkim_verify import DkimResult, verify_dkim
from roost.auth.dmarc import DmarcResult, evaluate_dmarc, from_domains_of
from roost.auth.dmarc_report import evaluation_for
from roost.auth.spf import SpfResult, check_helo, check_mail_from
from roost.config.inbound import host_port
from roost.config.model import RoostConfig
from roost.dns.resolver import Resolver
from roost.obs.log import log_event
from roost.policy import dnsbl
from roost.policy.clamd import ClamdClient, ClamdSettings
from roost.policy.greylist import Greylister, GreylistSettings
from roost.policy.lists import AddressSet, ListDecision, LocalLists
from roost.policy.ratelimit import (
    CONNECTIONS_PER_IP,
    MESSAGES_PER_IP,
    MESSAGES_PER_SENDER_DOMAIN,
    MESSAGES_PER_USER,
    Rate,
    RateLimiter,
    ip_key,
    per_hour,
    per_minute,
    rate_reply,
)
from roost.policy.rspamd import Envelope, RspamdClient, RspamdSettings
from roost.policy.verdict import ScanVerdict
from roost.queue.spool import SpooledMessage
from roost.smtp.reply import (
    C550_DMARC_REJECT,
    C550_SPF_FAIL,
    C554_CLIENT_BLOCKED,
    C554_DNSBL_LISTED,
    C554_SENDER_BLOCKED,
    Reply,
)
from roost.store.aio import AsyncStore
from roost.store.common import utc_now
from roost.store.types import DmarcEvaluation

log = logging.getLogger("roost.smtp.screening")

#: Messages past this size are read and rewritten in a thread rather than on the loop.
THREAD_THRESHOLD = 256 * 1024
_UNSAFE = re.compile(r"[^\x20-\x7e]")

#: DMARC evaluations are written for aggregate reports in batches, at most this often.
DMARC_FLUSH_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the end of data decided: refuse with `reply`, or store `content` (possibly the
    stripped bytes), with `headers` above Received and local copies in Junk when `junk`."""

    content: SpooledMessage
    headers: bytes = b""
    junk: bool = False
    reply: Reply | None = None


@dataclass(frozen=True, slots=True)
class MessageInfo:
    """The envelope of the message being judged."""

    queue_id: str
    sender: str
    recipients: Sequence[str]
    helo: str
    user: str | None
    forwarded_domain: str = ""  # a local alias domain forwarding this message off-site


def _safe(text: str, limit: int = 200) -> str:
    """Text from DNS or a scanner made one printable ASCII line for a reply or header."""
    return _UNSAFE.sub(" ", text)[:limit].strip()


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower() if "@" in address else ""


class Screening:
    """Shared by all sessions: settings, the resolver, rate buckets, greylister, scanners."""

    def __init__(
        self,
        config: RoostConfig,
        resolver: Resolver,
        astore: AsyncStore | None,
        *,
        greylist_clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.config = config
        self.resolver = resolver
        self.checks = config.checks
        self.authserv_id = config.checks.authserv_id or config.server.hostname
        self.lists = LocalLists.parse(config.lists.allow, config.lists.block)
        self.zones = [
            dnsbl.DnsblZone(z.zone, frozenset(z.codes) or None, z.kind) for z in config.dnsbl.zones
        ]
        self.ip_zones = any(z.kind == "ip" for z in self.zones)
        self.domain_zones = any(z.kind == "domain" for z in self.zones)
        self.limiter = RateLimiter(_rates(config))
        self.rate_exempt = AddressSet(config.ratelimit.exempt_networks)
        self.greylister: Greylister | None = None
        gl = config.greylist
        if gl.enabled and astore is not None:
            nets = [e for e in gl.allow if _is_network(e)]
            settings = GreylistSettings(
                gl.delay, gl.retry_window, gl.lifetime,
                allow_networks=nets, allow_domains=[e for e in gl.allow if e not in nets],
            )  # fmt: skip
            self.greylister = Greylister(settings, astore, clock=greylist_clock)
        self.rspamd = _rspamd(config)
        self.clamd = _clamd(config)
        self.dmarc_log = DmarcLog(astore) if astore is not None else None
        self.sealer = DkimSigner.from_config(config) if config.checks.arc_seal_forwarded else None

    async def close(self) -> None:
        """Write the DMARC evaluations still waiting (server shutdown)."""
        if self.dmarc_log is not None:
            await self.dmarc_log.flush()

    def open(self, ip: str, *, judged: bool) -> ClientScreen:
        """Called at connect; `judged` is False for submission and relay-network clients."""
        return ClientScreen(self, ip, judged)

    async def purge_greylist(self, interval: float) -> None:
        """Forget greylist triplets that can no longer pass, every `interval` seconds."""
        while self.greylister is not None:
            try:
                removed = await self.greylister.purge()
                log_event(log, "greylist purged", removed=removed)
            except Exception as exc:  # a DB hiccup must not end the loop
                log_event(log, "greylist purge failed", logging.WARNING, error=repr(exc))
            await asyncio.sleep(interval)


def _is_network(entry: str) -> bool:
    host = entry.partition("/")[0]
    return ":" in host or host.replace(".", "").isdigit()


def _rates(config: RoostConfig) -> dict[str, Rate]:
    rl = config.ratelimit
    wanted = {
        CONNECTIONS_PER_IP: (rl.connections_per_ip_per_minute, per_minute),
        MESSAGES_PER_IP: (rl.messages_per_hour_per_ip, per_hour),
        MESSAGES_PER_USER: (rl.messages_per_hour_per_user, per_hour),
        MESSAGES_PER_SENDER_DOMAIN: (rl.messages_per_hour_per_sender_domain, per_hour),
    }
    return {kind: make(count) for kind, (count, make) in wanted.items() if count > 0}


def _rspamd(config: RoostConfig) -> RspamdClient | None:
    cfg = config.rspamd
    if not cfg.address:
        return None
    host, port = host_port(cfg.address)
    return RspamdClient(RspamdSettings(host, port, cfg.timeout, cfg.fail_open))


def _clamd(config: RoostConfig) -> ClamdClient | None:
    cfg = config.clamd
    if not cfg.address:
        return None
    if cfg.address.startswith("/"):
        settings = ClamdSettings(unix_path=cfg.address, timeout=cfg.timeout,
                                 fail_open=cfg.fail_open)  # fmt: skip
    else:
        host, port = host_port(cfg.address)
        settings = ClamdSettings(host, port, timeout=cfg.timeout, fail_open=cfg.fail_open)
    return ClamdClient(settings)


@dataclass(slots=True)
class _Checks:
    """The authentication results of one message, for the header and the log."""

    spf: SpfResult | None = None
    dkim: list[DkimResult] = field(default_factory=list)
    dmarc: DmarcResult | None = None
    arc: ArcResult | None = None
    override: str = ""  # the trusted ARC sealer that overrode a DMARC failure
    helo_spf: SpfResult | None = None


class ClientScreen:
    """One connection's screening state: list decision, DNSBL task, SPF task, tags."""

    def __init__(self, screening: Screening, ip: str, judged: bool) -> None:
        self._s = screening
        self.ip = ip
        self.refusal: Reply | None = None  # refuse at greeting (connection rate)
        self._block: Reply | None = None  # refuse every MAIL (block list, DNSBL)
        self._tags: list[str] = []  # X-Roost-DNSBL values
        self._dnsbl_task: asyncio.Task[dnsbl.DnsblResult] | None = None
        self._dnsbl_done = False
        self._spf_task: asyncio.Task[tuple[SpfResult, SpfResult | None]] | None = None
        decision = screening.lists.decide(ip) if judged else ListDecision("none")
        self.allowed = decision.allowed
        self.judged = judged and not decision.allowed
        if decision.allowed:
            log_event(log, "allow-listed", client=ip, entry=decision.matched)
            return
        if not judged:
            return
        if decision.blocked:
            log_event(log, "block-listed", logging.WARNING, client=ip, entry=decision.matched)
            self._block = C554_CLIENT_BLOCKED.with_text(
                f"Service unavailable; client [{ip}] blocked by local policy"
            )
            return
        if not screening.rate_exempt.match(ip):
            ok, retry = screening.limiter.try_take(CONNECTIONS_PER_IP, ip_key(ip))
            if not ok:
                log_event(log, "connection rate exceeded", logging.WARNING, client=ip)
                self.refusal = rate_reply(CONNECTIONS_PER_IP, retry)
                return
        if screening.ip_zones:
            self._dnsbl_task = asyncio.get_running_loop().create_task(
                dnsbl.check_ip(screening.resolver, ip, screening.zones)
            )

    def close(self) -> None:
        for task in (self._dnsbl_task, self._spf_task):
            if task is not None and not task.done():
                task.cancel()

    # --- MAIL FROM -----------------------------------------------------------------------
    def mail(self, sender: str, helo: str) -> Reply | Awaitable[Reply | None] | None:
        """The refusal of MAIL FROM, if any; a coroutine when DNS answers must be awaited.
        Starts the SPF check so that it runs while the client sends RCPT and DATA."""
        if not self.judged:
            return None
        if self._block is not None:
            return self._block
        decision = self._s.lists.decide(None, sender)
        if decision.blocked:
            log_event(log, "sender block-listed", client=self.ip, sender=sender)
            return C554_SENDER_BLOCKED.with_text(f"Sender <{sender}> blocked by local policy")
        self._start_spf(sender, helo)
        if (self._dnsbl_task is not None and not self._dnsbl_done) or (
            self._s.domain_zones and _domain(sender)
        ):
            return self._mail_dns(sender)
        return None

    def _start_spf(self, sender: str, helo: str) -> None:
        if self._spf_task is not None:
            self._spf_task.cancel()
        self._spf_task = None
        if self._s.checks.enabled:
            self._spf_task = asyncio.get_running_loop().create_task(self._spf(sender, helo))

    async def _spf(self, sender: str, helo: str) -> tuple[SpfResult, SpfResult | None]:
        """(MAIL FROM result, HELO result); the null sender's check is the HELO check."""
        s = self._s
        receiver = s.config.server.hostname
        mail = check_mail_from(s.resolver, self.ip, sender, helo, receiver)
        if not sender or not helo:
            return await mail, None
        results = await asyncio.gather(mail, check_helo(s.resolver, self.ip, helo, receiver))
        return results[0], results[1]

    async def _mail_dns(self, sender: str) -> Reply | None:
        try:
            return await self._blocklists(sender)
        except Exception as exc:  # dnsbl.py reports DNS trouble itself; this is a bug: fail open
            log_event(log, "dnsbl check failed", logging.ERROR, client=self.ip, error=repr(exc))
            self._dnsbl_done = True
            return None

    async def _blocklists(self, sender: str) -> Reply | None:
        if self._dnsbl_task is not None and not self._dnsbl_done:
            result = await self._dnsbl_task
            self._dnsbl_done = True
            self._block = self._listed(result, f"client [{self.ip}]")
            if self._block is not None:
                return self._block
        domain = _domain(sender)
        if self._s.domain_zones and domain:
            result = await dnsbl.check_domain(self._s.resolver, domain, self._s.zones)
            return self._listed(result, f"sender domain {domain}")
        return None

    def _listed(self, result: dnsbl.DnsblResult, what: str) -> Reply | None:
        for error in result.errors:
            log_event(log, "dnsbl error", logging.WARNING, zone=error.zone, error=error.error)
        if not result.listings:
            return None
        hit = result.listings[0]
        log_event(log, "dnsbl listed", logging.WARNING, client=self.ip, what=what,
                  zone=hit.zone, code=hit.code, action=self._s.config.dnsbl.action)  # fmt: skip
        if self._s.config.dnsbl.action == "tag":
            self._tags += [f"{what} listed by {h.zone} ({h.code})" for h in result.listings]
            return None
        reason = f": {_safe(hit.text)}" if _safe(hit.text) else ""
        return C554_DNSBL_LISTED.with_text(
            f"Service unavailable; {what} listed by {hit.zone}{reason}"
        )

    # --- RCPT TO -------------------------------------------------------------------------
    def greylists(self, sender: str) -> bool:
        """Whether RCPT must be awaited for greylisting (enabled and not exempt)."""
        g = self._s.greylister
        return (
            g is not None
            and self.judged
            and g.exempt(self.ip, sender, authenticated=False, client_names=()) is None
        )

    async def greylist(self, sender: str, recipient: str) -> Reply | None:
        g = self._s.greylister
        assert g is not None
        try:
            result = await g.check(self.ip, sender, recipient)
        except Exception as exc:  # the store is down: do not hold mail for greylisting
            log_event(log, "greylist failed", logging.WARNING, error=repr(exc))
            return None
        return result.reply

    # --- end of data ---------------------------------------------------------------------
    def message_rate(self, sender: str, user: str | None) -> Reply | None:
        """Count one message against the per-IP, per-user and per-sender-domain buckets."""
        s = self._s
        if self.allowed or (s.rate_exempt.match(self.ip) and user is None):
            return None
        takes: list[tuple[str, str]] = []
        if user is not None:
            takes.append((MESSAGES_PER_USER, user.lower()))
        if self.judged:
            takes.append((MESSAGES_PER_IP, ip_key(self.ip)))
            if _domain(sender):
                takes.append((MESSAGES_PER_SENDER_DOMAIN, _domain(sender)))
        for kind, key in takes:
            ok, retry = s.limiter.try_take(kind, key)
            if not ok:
                log_event(log, "message rate exceeded", logging.WARNING, kind=kind, key=key)
                return rate_reply(kind, retry)
        return None

    async def judge(self, info: MessageInfo, content: SpooledMessage) -> Verdict:
        """Authenticate the message and apply the policy; never raises for check trouble."""
        if not self.judged:
            return Verdict(content)
        s = self._s
        data = content.data
        if data is None:
            assert content.path is not None
            data = await asyncio.to_thread(Path(content.path).read_bytes)
        checks = _Checks()
        action, reply, junk = "accept", None, False
        headers = b""
        if s.checks.enabled:
            try:
                content, data = await self._strip(content, data)
                checks = await self._authenticate(info, data)
                action, reply = self._policy(checks)
                junk = action == "junk"
                self._record_dmarc(info, checks, action)
                headers = self._ar_header(info, checks)
                if reply is None and info.forwarded_domain and checks.arc is not None:
                    headers = await self._arc_seal(info, checks.arc, headers, data) + headers
            except Exception as exc:  # a bug or odd input must not lose mail: fail open
                log_event(log, "checks failed", logging.ERROR, queue_id=info.queue_id,
                          error=repr(exc))  # fmt: skip
        headers += b"".join(f"X-Roost-DNSBL: {t}\r\n".encode() for t in self._tags)
        scan = ""
        if reply is None and (s.rspamd or s.clamd):
            verdicts = await self._scan(info, [headers, data])
            for v in verdicts:
                scan += f"{v.action}:{_safe(v.text, 60)} "
                if v.reply is not None and reply is None:
                    reply, action = v.reply, v.action
                elif v.action == "junk":
                    junk = True
                headers += b"".join(
                    f"{name}: {_safe(value, 900)}\r\n".encode() for name, value in v.headers_to_add
                )
            if reply is None and junk:
                action = "junk"
        self._log(info, checks, action, scan.strip())
        if reply is not None:
            return Verdict(content, reply=reply)
        return Verdict(content, headers, junk)

    async def _strip(self, content: SpooledMessage, data: bytes) -> tuple[SpooledMessage, bytes]:
        """RFC 8601 §5: Authentication-Results claiming our authserv-id are forged; removed,
        the stored blob is the stripped bytes (a new digest, a new spool file if spooled)."""
        spool_dir = str(Path(content.path).parent) if content.path is not None else None
        work = functools.partial(_stripped, data, self._s.authserv_id, spool_dir)
        if len(data) > THREAD_THRESHOLD:
            new = await asyncio.to_thread(work)
        else:
            new = work()
        if new is None:
            return content, data
        log_event(log, "forged authentication-results removed", client=self.ip)
        content.discard()
        return new

    async def _authenticate(self, info: MessageInfo, data: bytes) -> _Checks:
        s = self._s
        if self._spf_task is None:
            self._start_spf(info.sender, info.helo)
        assert self._spf_task is not None
        spf_task, self._spf_task = self._spf_task, None
        (spf, helo_spf), dkim_results, arc = await asyncio.gather(
            spf_task, verify_dkim(data, s.resolver), verify_arc(data, s.resolver)
        )
        header = data[: _header_end(data)]
        dmarc = await evaluate_dmarc(
            s.resolver, from_domains_of(header), spf.result, spf.domain, dkim_results
        )
        checks = _Checks(spf, dkim_results, dmarc, arc)
        if dmarc.result == "fail" and arc.result == "pass":
            sealer = _newest_sealer(header)
            if sealer and sealer in s.checks.trusted_arc_sealers:
                checks.override = sealer
        checks.helo_spf = helo_spf
        return checks

    def _policy(self, checks: _Checks) -> tuple[str, Reply | None]:
        """(action, refusal) from the results: Gmail/Yahoo 2024 practice by default."""
        cfg = self._s.checks
        dmarc, spf = checks.dmarc, checks.spf
        if dmarc is not None and dmarc.result == "fail":
            if checks.override:
                # RFC 7489 §6.7 / RFC 8617 §7.2: a local policy may accept a DMARC failure
                # on the word of a trusted intermediary's ARC seal.
                log_event(log, "dmarc failure overridden by trusted ARC sealer",
                          sealer=checks.override, domain=dmarc.from_domain)  # fmt: skip
                return "accept", None
            wanted = {"reject": cfg.dmarc_reject, "quarantine": cfg.dmarc_quarantine}.get(
                dmarc.disposition, "tag"
            )
            if wanted == "reject":
                # RFC 7489 §10.3: refuse in the SMTP transaction, 5.7.1.
                text = (f"Rejected by DMARC policy of {dmarc.from_domain} (p={dmarc.policy}): "
                        "neither SPF nor DKIM aligned")  # fmt: skip
                return "reject", C550_DMARC_REJECT.with_text(text)
            return wanted, None
        no_policy = dmarc is None or dmarc.record is None
        if no_policy and spf is not None and spf.result == "fail":
            wanted = cfg.spf_fail_without_dmarc
            if wanted == "reject":
                why = f": {_safe(spf.explanation)}" if _safe(spf.explanation) else ""
                text = f"Rejected: SPF check failed for {spf.domain}{why}"
                return "reject", C550_SPF_FAIL.with_text(text)
            return wanted, None
        return "accept", None

    def _record_dmarc(self, info: MessageInfo, checks: _Checks, action: str) -> None:
        """RFC 7489 §7.2: remember the evaluation for the policy domain's aggregate report,
        with the disposition Roost applied and why it differs from the policy (Appendix C)."""
        dmarc_log, dmarc, spf = self._s.dmarc_log, checks.dmarc, checks.spf
        if dmarc_log is None or dmarc is None or spf is None:
            return
        identities = [(spf.domain, "mfrom" if info.sender else "helo", spf.result)]
        if checks.helo_spf is not None:
            identities.append((checks.helo_spf.domain, "helo", checks.helo_spf.result))
        applied = {"reject": "reject", "junk": "quarantine"}.get(action, "none")
        reason = ""
        if checks.override:
            reason = "trusted_forwarder"
        elif dmarc.result == "fail" and applied != dmarc.disposition:
            reason = "local_policy"
        row = evaluation_for(
            dmarc, source_ip=self.ip, mail_from=info.sender,
            rcpt_domain=_domain(info.recipients[0]) if info.recipients else "",
            spf=identities, dkim=checks.dkim, disposition=applied, reason=reason,
        )  # fmt: skip
        if row is not None:
            dmarc_log.add(row)

    async def _arc_seal(self, info: MessageInfo, arc: ArcResult, ar: bytes, data: bytes) -> bytes:
        """RFC 8617 §5.1: an ARC set for mail an alias forwards off-site, signed with the alias
        domain's DKIM key (RSA only: ARC defines rsa-sha256 alone), carrying our verdicts, so
        receivers that trust Roost can honour them after the forward breaks SPF."""
        signer = self._s.sealer
        if signer is None:
            return b""
        domain = info.forwarded_domain
        selector = signer.selector_for(domain)
        path = dkim_keys.key_path(signer.key_dir, domain, selector)
        cv = arc.result if arc.instances else "none"

        def work() -> bytes:
            try:
                key = dkim_keys.load_key(path)
            except FileNotFoundError:
                return b""
            if not isinstance(key, rsa.RSAPrivateKey):
                return b""
            return seal(
                ar + data, domain=domain, selector=selector,
                private_key_pem=dkim_keys.private_pem(key),
                authserv_id=self._s.authserv_id, chain_validation=cv,
            )  # fmt: skip

        try:
            arc_set = await asyncio.to_thread(work)
        except (OSError, ValueError) as exc:
            log_event(log, "arc seal failed", logging.WARNING, queue_id=info.queue_id,
                      domain=domain, error=repr(exc))  # fmt: skip
            return b""
        if arc_set:
            log_event(log, "arc sealed", queue_id=info.queue_id, domain=domain, cv=cv)
        return arc_set

    def _ar_header(self, info: MessageInfo, checks: _Checks) -> bytes:
        if checks.spf is None:
            return b""
        report = SpfReport(checks.spf.result, mailfrom=info.sender, helo=info.helo)
        header = authentication_results(
            self._s.authserv_id, spf=report, dkim=checks.dkim, dmarc=checks.dmarc, arc=checks.arc
        )
        if checks.override:
            note = f"(dmarc=fail overridden by trusted ARC sealer {checks.override})"
            header = header[:-2] + f"\r\n  {_safe(note)}\r\n".encode()
        return header

    async def _scan(self, info: MessageInfo, parts: list[bytes]) -> list[ScanVerdict]:
        s = self._s
        work: list[Awaitable[ScanVerdict]] = []
        if s.clamd is not None:
            work.append(s.clamd.scan(parts))
        if s.rspamd is not None:
            envelope = Envelope(
                client_ip=self.ip, helo=info.helo, sender=info.sender,
                recipients=info.recipients, user=info.user or "", queue_id=info.queue_id,
            )  # fmt: skip
            work.append(s.rspamd.scan(envelope, parts))
        return list(await asyncio.gather(*work))

    def _log(self, info: MessageInfo, checks: _Checks, action: str, scan: str) -> None:
        fields: dict[str, Any] = {"queue_id": info.queue_id, "client": self.ip}
        if checks.spf is not None:
            fields["spf"] = f"{checks.spf.result}:{checks.spf.domain}"
            fields["dkim"] = ",".join(f"{d.result}:{d.domain}" for d in checks.dkim) or "none"
        if checks.dmarc is not None:
            d = checks.dmarc
            fields["dmarc"] = f"{d.result}:{d.from_domain}:p={d.policy}:dis={d.disposition}"
        if checks.arc is not None:
            fields["arc"] = checks.arc.result
        if checks.override:
            fields["arc_override"] = checks.override
        if checks.helo_spf is not None:
            fields["spf_helo"] = checks.helo_spf.result
        if self._tags:
            fields["dnsbl"] = "; ".join(self._tags)
        if scan:
            fields["scan"] = scan
        fields["action"] = action
        log_event(log, "verdict", logging.WARNING if action == "reject" else logging.INFO,
                  **fields)  # fmt: skip


class DmarcLog:
    """Collects DMARC evaluations and writes them in one store call per second at most, off
    the SMTP reply path (a message's 250 never waits for its report row)."""

    def __init__(self, astore: AsyncStore) -> None:
        self._astore = astore
        self._rows: list[DmarcEvaluation] = []
        self._task: asyncio.Task[None] | None = None

    def add(self, row: DmarcEvaluation) -> None:
        self._rows.append(row)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._later())

    async def _later(self) -> None:
        await asyncio.sleep(DMARC_FLUSH_SECONDS)
        self._task = None
        await self._write()

    async def flush(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        await self._write()

    async def _write(self) -> None:
        rows, self._rows = self._rows, []
        if not rows:
            return
        try:
            await self._astore.run(self._astore.store.record_dmarc, rows)
        except Exception as exc:  # reports are best effort; mail flow is not
            log_event(log, "dmarc evaluations not recorded", logging.WARNING,
                      rows=len(rows), error=repr(exc))  # fmt: skip


def _header_end(data: bytes) -> int:
    end = data.find(b"\r\n\r\n")
    return len(data) if end < 0 else end + 2


def _newest_sealer(header: bytes) -> str:
    """d= of the ARC-Seal with the highest i= (the last intermediary, RFC 8617 §4.2.1)."""
    try:
        fields, _ = dkim.rfc822_parse(header + b"\r\n")
    except dkim.DKIMException:
        return ""
    best, domain = -1, ""
    for name, value in fields:
        if bytes(name).lower() != b"arc-seal":
            continue
        try:
            tags = parse_tag_value(re.sub(rb"\r?\n", b"", bytes(value)))
        except InvalidTagValueList:
            continue
        instance = tags.get(b"i", b"")
        if instance.strip().isdigit() and int(instance) > best:
            best = int(instance)
            domain = tags.get(b"d", b"").decode("ascii", "replace").strip().lower().rstrip(".")
    return domain


def _stripped(
    data: bytes, authserv_id: str, spool_dir: str | None
) -> tuple[SpooledMessage, bytes] | None:
    """The message without forged fields, in memory or (`spool_dir`) in a new spool file;
    None when nothing was removed."""
    stripped = strip_forged(data, authserv_id)
    if len(stripped) == len(data) and stripped == data:
        return None
    digest = hashlib.sha256(stripped).hexdigest()
    if spool_dir is None:
        return SpooledMessage(digest, len(stripped), stripped, None), stripped
    with tempfile.NamedTemporaryFile(dir=spool_dir, prefix="spool-", delete=False) as f:
        f.write(stripped)
    return SpooledMessage(digest, len(stripped), None, f.name), stripped
