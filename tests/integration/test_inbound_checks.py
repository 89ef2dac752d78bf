"""Sender authentication on the MX listener over real SMTP: SPF, DKIM, DMARC and ARC verdicts
from a loopback DNS server, what each one does to the message (INBOX, Junk, 550 5.7.1), the
Authentication-Results header Roost adds, and the removal of forged ones."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dkim
import pytest

from roost.auth import dkim_keys
from roost.auth.arc import ArcResult, seal, verify_arc
from roost.auth.authresults import SpfReport, authentication_results
from roost.auth.dkim import DkimSigner
from roost.config import RoostConfig, resolve_path
from roost.dns import Resolver
from roost.store.types import DmarcEvaluation
from tests.dnsserver import DnsTestServer
from tests.integration.harness import RunningServer, running_server
from tests.integration.inbound_env import (
    AUTHSERV_ID,
    Keys,
    checks_config,
    make_keys,
    message,
    send,
    stored,
)


@pytest.fixture(scope="module")
def keys() -> Keys:
    return make_keys()


@pytest.fixture(scope="module")
def dns_module() -> Iterator[DnsTestServer]:
    with DnsTestServer() as dns:
        yield dns


@pytest.fixture
def dns(dns_module: DnsTestServer, keys: Keys) -> DnsTestServer:
    dns_module.reset()
    dns_module.zones = keys.zones()
    return dns_module


@pytest.fixture
def server(roost_config: RoostConfig, dns: DnsTestServer) -> Iterator[RunningServer]:
    with running_server(checks_config(roost_config, dns)) as running:
        yield running


def _our_header(data: bytes) -> str:
    """Roost's Authentication-Results field, unfolded; the first field after the delivery
    prefix (Return-Path, Delivered-To), above Received."""
    for name in (b"Return-Path: ", b"Delivered-To: "):
        if data.startswith(name):
            data = data[data.index(b"\r\n") + 2 :]
    assert data.startswith(b"Authentication-Results: " + AUTHSERV_ID.encode() + b";"), data[:200]
    end = data.index(b"\r\n", 0)
    while data[end + 2 : end + 3] in (b" ", b"\t"):
        end = data.index(b"\r\n", end + 2)
    assert data[end + 2 :].startswith(b"Received: "), "our field sits above Roost's Received"
    return " ".join(data[:end].decode().split())


@pytest.mark.parametrize(
    ("domain", "box", "spf"),
    [
        ("pass.test", "INBOX", "spf=pass smtp.mailfrom=someone@pass.test"),
        ("fail.test", "Junk", "spf=fail smtp.mailfrom=someone@fail.test"),  # no DMARC: junk
        ("soft.test", "INBOX", "spf=softfail smtp.mailfrom=someone@soft.test"),
    ],
)
def test_spf_results(server: RunningServer, domain: str, box: str, spf: str) -> None:
    outcome = send(server, f"someone@{domain}", message(f"someone@{domain}"))
    assert outcome.accepted, outcome
    boxes = stored(server)
    assert len(boxes[box]) == 1
    assert sum(map(len, boxes.values())) == 1
    header = _our_header(boxes[box][0])
    assert spf in header
    assert "dkim=none" in header
    assert "dmarc=none" in header


def test_dmarc_reject_unaligned_is_refused_and_nothing_stored(server: RunningServer) -> None:
    outcome = send(server, "someone@reject.test", message("someone@reject.test"))
    assert (outcome.stage, outcome.code) == ("data", 550)
    assert outcome.text == (
        "5.7.1 Rejected by DMARC policy of reject.test (p=reject): neither SPF nor DKIM aligned"
    )
    assert stored(server) == {"INBOX": [], "Junk": []}


def test_dmarc_quarantine_goes_to_junk(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="roost")
    outcome = send(server, "someone@quarantine.test", message("someone@quarantine.test"))
    assert outcome.accepted, outcome
    boxes = stored(server)
    assert boxes["INBOX"] == []
    assert len(boxes["Junk"]) == 1
    header = _our_header(boxes["Junk"][0])
    assert "dmarc=fail (p=quarantine dis=quarantine) header.from=quarantine.test" in header
    (verdict,) = [r for r in caplog.records if r.getMessage() == "verdict"]
    fields = verdict.__dict__["roost_fields"]  # one line per message, keyed by queue id
    assert fields["action"] == "junk"
    assert fields["queue_id"]
    assert fields["spf"] == "fail:quarantine.test"
    assert fields["dmarc"] == "fail:quarantine.test:p=quarantine:dis=quarantine"
    assert (fields["dkim"], fields["arc"]) == ("none", "none")


def test_dmarc_none_delivers_with_the_failure_noted(server: RunningServer) -> None:
    outcome = send(server, "someone@none.test", message("someone@none.test"))
    assert outcome.accepted, outcome
    (data,) = stored(server)["INBOX"]
    assert "dmarc=fail (p=none dis=none) header.from=none.test" in _our_header(data)


def test_roost_signed_forwarded_mail_passes_dmarc_on_dkim(
    server: RunningServer, keys: Keys, tmp_path: Path
) -> None:
    """A forwarder re-sends with its own envelope (SPF unaligned); the author's DKIM survives."""
    dkim_keys.write_key(dkim_keys.key_path(tmp_path, "signed.test", "rsa"), keys.signed_rsa)
    original = message("author@signed.test", "forwarded")
    signature = DkimSigner(tmp_path, "rsa").sign(original, "signed.test")
    assert signature is not None
    outcome = send(server, "fwd@forwarder.test", signature + original)
    assert outcome.accepted, outcome
    (data,) = stored(server)["INBOX"]
    header = _our_header(data)
    assert "spf=pass smtp.mailfrom=fwd@forwarder.test" in header
    assert "dkim=pass header.d=signed.test header.s=rsa header.a=rsa-sha256" in header
    assert "dmarc=pass (p=reject dis=none) header.from=signed.test" in header


def test_dkimpy_ed25519_signature_verifies(server: RunningServer, keys: Keys) -> None:
    original = message("author@signed.test", "ed25519")
    signature = dkim.sign(
        original, b"ed", b"signed.test", dkim_keys.dkimpy_private(keys.signed_ed),
        signature_algorithm=b"ed25519-sha256", linesep=b"\r\n",
        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
    )  # fmt: skip
    outcome = send(server, "author@signed.test", signature + original)
    assert outcome.accepted, outcome  # SPF fails (-all), DKIM aligns: DMARC passes
    header = _our_header(stored(server)["INBOX"][0])
    assert "spf=fail" in header
    assert "dkim=pass header.d=signed.test header.s=ed header.a=ed25519-sha256" in header
    assert "dmarc=pass" in header


def test_broken_signature_on_p_reject_domain_is_refused(
    server: RunningServer, keys: Keys, tmp_path: Path
) -> None:
    dkim_keys.write_key(dkim_keys.key_path(tmp_path, "signed.test", "rsa"), keys.signed_rsa)
    original = message("author@signed.test", "tampered")
    signature = DkimSigner(tmp_path, "rsa").sign(original, "signed.test")
    assert signature is not None
    tampered = signature + original.replace(b"Hello.", b"Hullo.")
    outcome = send(server, "fwd@forwarder.test", tampered)
    assert (outcome.code, outcome.text[:6]) == (550, "5.7.1 ")
    assert "DMARC policy of signed.test" in outcome.text


def _list_message(keys: Keys, tmp_path: Path, sealer: str) -> bytes:
    """author@signed.test (p=reject) posts to a list that adds a footer and ARC-seals."""
    dkim_keys.write_key(dkim_keys.key_path(tmp_path, "signed.test", "rsa"), keys.signed_rsa)
    original = message("author@signed.test", "list post")
    signature = DkimSigner(tmp_path, "rsa").sign(original, "signed.test")
    assert signature is not None
    modified = (signature + original).replace(b"Hello.\r\n", b"Hello.\r\n-- \r\nfooter\r\n")
    ar = authentication_results(
        sealer, spf=SpfReport("pass", mailfrom="author@signed.test"), dkim_checked=False
    )
    arc_set = seal(
        ar + modified, domain=sealer, selector="arc",
        private_key_pem=dkim_keys.dkimpy_private(keys.list_rsa), authserv_id=sealer,
        chain_validation="none",
    )  # fmt: skip
    assert arc_set
    return arc_set + ar + modified


def test_list_modified_mail_with_trusted_arc_seal_is_delivered(
    server: RunningServer, keys: Keys, tmp_path: Path
) -> None:
    outcome = send(server, "bounce@lists.test", _list_message(keys, tmp_path, "lists.test"))
    assert outcome.accepted, outcome
    (data,) = stored(server)["INBOX"]
    header = _our_header(data)
    assert "dkim=fail" in header
    assert "dmarc=fail" in header
    assert "arc=pass" in header
    assert "(dmarc=fail overridden by trusted ARC sealer lists.test)" in header


def test_list_modified_mail_with_untrusted_arc_seal_is_refused(
    server: RunningServer, keys: Keys, tmp_path: Path
) -> None:
    data = _list_message(keys, tmp_path, "untrusted-list.test")
    outcome = send(server, "bounce@untrusted-list.test", data)
    assert (outcome.code, outcome.text[:6]) == (550, "5.7.1 ")


def test_forged_authentication_results_are_removed(server: RunningServer) -> None:
    forged = (
        f"Authentication-Results: {AUTHSERV_ID}; spf=pass smtp.mailfrom=x@pass.test;\r\n"
        "  dkim=pass header.d=bank.test\r\n"
        "Authentication-Results: elsewhere.test; spf=pass smtp.mailfrom=x@pass.test\r\n"
    ).encode()
    original = message("someone@pass.test", "forged", extra=forged)
    outcome = send(server, "someone@pass.test", original)
    assert outcome.accepted, outcome
    (msg,) = server.inbox("bob@roost.test")
    blob = server.blobs.get(msg.blob)
    assert blob == original.replace(forged, forged[forged.index(b"Authentication-Results: e") :])
    assert b"bank.test" not in server.message_bytes(msg)
    assert b"Authentication-Results: elsewhere.test" in blob
    assert _our_header(server.message_bytes(msg)).count("spf=pass") == 1


def test_submission_is_not_judged(server: RunningServer) -> None:
    with server.submission() as client:
        client.sendmail("alice@roost.test", ["bob@roost.test"], message("alice@roost.test"))
    (data,) = stored(server)["INBOX"]
    assert b"Authentication-Results" not in data


def test_checks_disabled_add_nothing(roost_config: RoostConfig, dns: DnsTestServer) -> None:
    config = checks_config(roost_config, dns)
    config.checks.enabled = False
    with running_server(config) as server:
        assert send(server, "someone@reject.test", message("someone@reject.test")).accepted
        (data,) = stored(server)["INBOX"]
        assert b"Authentication-Results" not in data


def _dmarc_rows(server: RunningServer, domain: str) -> list[tuple[DmarcEvaluation, int]]:
    """The day's report rows for `domain`, once the batched write has happened."""
    day = datetime.now(UTC).date().isoformat()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        rows = server.store.dmarc_rows(domain, day)
        if rows:
            return rows
        time.sleep(0.1)
    raise AssertionError(f"no DMARC rows for {domain}")


def test_dmarc_evaluations_are_recorded_for_reports(
    server: RunningServer, keys: Keys, tmp_path: Path
) -> None:
    for _ in range(2):
        assert send(server, "someone@none.test", message("someone@none.test")).accepted
    assert send(server, "someone@reject.test", message("someone@reject.test")).code == 550
    assert send(server, "bounce@lists.test", _list_message(keys, tmp_path, "lists.test")).accepted
    ((row, count),) = _dmarc_rows(server, "none.test")
    assert count == 2
    assert (row.header_from, row.source_ip, row.envelope_from, row.envelope_to) == (
        "none.test", "127.0.0.1", "none.test", "roost.test"
    )  # fmt: skip
    assert (row.p, row.disposition, row.dmarc_spf, row.dmarc_dkim) == (
        "none",
        "none",
        "fail",
        "fail",
    )
    assert ("none.test", "mfrom", "fail") in row.spf
    ((row, count),) = _dmarc_rows(server, "reject.test")
    assert (row.disposition, row.reason, count) == ("reject", "", 1)
    ((row, _),) = _dmarc_rows(server, "signed.test")
    assert (row.disposition, row.reason) == ("none", "trusted_forwarder")


def test_forwarded_mail_is_arc_sealed_with_the_alias_domain_key(
    server: RunningServer, dns: DnsTestServer, keys: Keys, tmp_path: Path
) -> None:
    """forward@roost.test goes to someone@remote.example: the queued copy carries an ARC set
    by roost.test over our verdicts, continuing the list's chain (i=2, cv=pass)."""
    config = server.config
    key_dir = resolve_path(config, config.dkim.key_dir)
    dkim_keys.write_key(dkim_keys.key_path(key_dir, "roost.test", "roost"), keys.list_rsa)
    dns.set(
        "roost._domainkey.roost.test", "TXT", [dkim_keys.dns_record(keys.list_rsa.public_key())]
    )
    posted = _list_message(keys, tmp_path, "lists.test")
    outcome = send(server, "bounce@lists.test", posted, rcpts=("forward@roost.test",))
    assert outcome.accepted, outcome
    (entry,) = server.store.list_queue()
    queued = entry.prefix + server.blobs.get(entry.blob)
    assert queued.startswith(b"ARC-Seal: i=2; cv=pass; a=rsa-sha256; d=roost.test; s=roost;")
    assert b"ARC-Authentication-Results: i=2; " + AUTHSERV_ID.encode() in queued

    async def check() -> ArcResult:
        return await verify_arc(queued, Resolver.from_config(dns.config()))

    arc = asyncio.run(check())
    assert (arc.result, arc.instances) == ("pass", 2)


def test_forwarded_mail_without_key_is_not_sealed(server: RunningServer) -> None:
    outcome = send(
        server, "someone@pass.test", message("someone@pass.test"), rcpts=("forward@roost.test",)
    )
    assert outcome.accepted, outcome
    (entry,) = server.store.list_queue()
    assert entry.prefix.startswith(b"Authentication-Results: ")


def test_large_spooled_message_is_stripped_and_verified(server: RunningServer, keys: Keys) -> None:
    """Past 512 KiB the message is in a spool file: the stripped copy is a new file with its
    own digest, and DKIM is verified on the stripped bytes."""
    forged = f"Authentication-Results: {AUTHSERV_ID}; dmarc=pass header.from=bank.test\r\n"
    body = b"".join(b"line %06d of a long message\r\n" % i for i in range(24_000))
    original = message("author@signed.test", "large", body=body)
    signature = dkim.sign(
        original, b"rsa", b"signed.test", dkim_keys.dkimpy_private(keys.signed_rsa),
        linesep=b"\r\n", include_headers=[b"from", b"subject", b"date"],
    )  # fmt: skip
    assert len(original) > 600_000
    outcome = send(server, "author@signed.test", forged.encode() + signature + original)
    assert outcome.accepted, outcome
    (msg,) = server.inbox("bob@roost.test")
    blob = server.blobs.get(msg.blob)
    assert blob == signature + original
    assert hashlib.sha256(blob).hexdigest() == msg.blob.digest
    header = _our_header(server.message_bytes(msg))
    assert "dkim=pass header.d=signed.test" in header
    assert "dmarc=pass" in header
