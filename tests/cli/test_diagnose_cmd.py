"""`roost diagnose FILE.eml`: text and JSON, exit status, DNS from the config's [dns]."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from roost.auth.dkim import DkimSigner
from roost.cli.main import cli
from roost.config.model import RoostConfig
from tests.auth.test_diagnose import ORIGINAL, roost_lines, signed
from tests.auth.test_diagnose import signer as signer
from tests.cli.helpers import write_config
from tests.dnsserver import DnsTestServer
from tests.dnsserver import dns_server as dns_server


@pytest.fixture
def config_file(tmp_path: Path, dns_server: DnsTestServer) -> Path:
    config = RoostConfig()
    config.server.data_dir = str(tmp_path)
    config.server.hostname = "mx.roost.test"
    config.dns = dns_server.config()
    return write_config(config, tmp_path / "roost.toml")


def diagnose(config_file: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config_file), "diagnose", *args])


def test_passing_message(tmp_path: Path, config_file: Path, signer: DkimSigner) -> None:
    path = tmp_path / "ok.eml"
    path.write_bytes(
        roost_lines("192.0.2.10", "mail.example.test", "b@example.test") + signed(signer)
    )
    result = diagnose(config_file, str(path))
    assert result.exit_code == 0, result.output
    assert "SPF: pass" in result.stdout
    assert "DKIM: pass" in result.stdout
    assert "DMARC: pass" in result.stdout
    assert result.stdout.endswith("Verdict: DMARC passes; disposition none.\n")
    data = json.loads(diagnose(config_file, str(path), "--json").stdout)
    assert (data["dmarc"], data["ok"]) == ("pass", True)
    assert data["envelope"]["ip"] == "192.0.2.10"
    assert [s["check"] for s in data["steps"]] == [
        "Envelope", "SPF", "DKIM", "DMARC", "ARC", "Authentication-Results",
    ]  # fmt: skip


def test_failing_message_exits_1(tmp_path: Path, config_file: Path, signer: DkimSigner) -> None:
    path = tmp_path / "bad.eml"
    tampered = signed(signer).replace(b"Hello Bob.", b"Pay now.")
    path.write_bytes(roost_lines("203.0.113.5", "evil.test", "author@example.test") + tampered)
    result = diagnose(config_file, str(path))
    assert result.exit_code == 1
    assert "SPF: fail" in result.stdout
    assert "body hash [bh=] [fail]" in result.stdout
    assert "Verdict: DMARC is fail; disposition reject." in result.stdout
    json_result = diagnose(config_file, str(path), "--json")
    assert json_result.exit_code == 1
    assert json.loads(json_result.stdout)["disposition"] == "reject"


def test_overrides_and_errors(tmp_path: Path, config_file: Path, signer: DkimSigner) -> None:
    path = tmp_path / "bare.eml"
    path.write_bytes(ORIGINAL)  # no Roost lines, no signature
    unknown = diagnose(config_file, str(path))
    assert unknown.exit_code == 1  # DMARC fails: nothing authenticates example.test
    assert "client IP is unknown" in unknown.stdout
    given = diagnose(config_file, str(path), "--ip", "192.0.2.3", "--mail-from", "a@example.test",
                     "--helo", "mail.example.test")  # fmt: skip
    assert given.exit_code == 0, given.output
    assert "taken from command-line options" in given.stdout
    bad_ip = diagnose(config_file, str(path), "--ip", "not-an-ip")
    assert bad_ip.exit_code == 1
    assert "roost:" in bad_ip.output
    missing = diagnose(config_file, str(tmp_path / "nope.eml"))
    assert missing.exit_code == 1
    assert "cannot read" in missing.output
