"""`roost dkim keygen|list|dns` on a config in a temp dir (no store needed)."""

from __future__ import annotations

import base64
import re
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from roost.auth import dkim_keys
from roost.cli.dkim import zone_line
from roost.cli.main import cli
from roost.config.model import RoostConfig
from tests.cli.helpers import Run, as_json, write_config


@pytest.fixture
def dkim_config(tmp_path: Path) -> Path:
    config = RoostConfig()
    config.server.data_dir = str(tmp_path)
    config.dkim.selectors = {"b.test": "s2"}
    return write_config(config, tmp_path / "roost.toml")


@pytest.fixture
def run(dkim_config: Path) -> Run:
    def invoke(*args: str, ok: bool = True) -> Result:
        result = CliRunner().invoke(cli, ["--config", str(dkim_config), *args])
        if ok:
            assert result.exit_code == 0, (result.output, result.exception)
        return result

    return invoke


def field(output: str, name: str) -> str:
    """The value after "name:" on its line of the printed record."""
    for line in output.splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {name}: line in {output!r}")


def test_keygen_rsa_default(run: Run, tmp_path: Path) -> None:
    """Default selector and RSA-2048; file 0600; the printed record matches the key."""
    out = run("dkim", "keygen", "A.test").output
    path = tmp_path / "dkim" / "a.test.roost.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = dkim_keys.load_key(path)
    assert key.key_size == 2048  # type: ignore[union-attr]
    assert field(out, "name") == "roost._domainkey.a.test"
    assert field(out, "value") == dkim_keys.dns_record(key.public_key())
    assert "dkim.selectors" not in out  # it is the active selector already


def test_keygen_ed25519_other_selector(run: Run, tmp_path: Path) -> None:
    """A non-active selector: the output says how to switch to it."""
    out = run("dkim", "keygen", "a.test", "--selector", "new", "--algorithm", "ed25519").output
    assert (tmp_path / "dkim" / "a.test.new.pem").exists()
    assert field(out, "value").startswith("v=DKIM1; k=ed25519; p=")
    assert 'set dkim.selectors."a.test" = "new"' in out


def test_keygen_uses_configured_selector(run: Run, tmp_path: Path) -> None:
    run("dkim", "keygen", "b.test", "--bits", "1024")
    assert (tmp_path / "dkim" / "b.test.s2.pem").exists()


def test_keygen_refuses_overwrite(run: Run, tmp_path: Path) -> None:
    """An existing key is kept unless --force (its published record would stop matching)."""
    run("dkim", "keygen", "a.test")
    path = tmp_path / "dkim" / "a.test.roost.pem"
    before = path.read_bytes()
    result = run("dkim", "keygen", "a.test", ok=False)
    assert result.exit_code == 1
    assert "exists; use --force" in result.output
    assert path.read_bytes() == before
    run("dkim", "keygen", "a.test", "--force")
    assert path.read_bytes() != before


@pytest.mark.parametrize("selector", ["a.b", "-x", "", "x y"])
def test_keygen_rejects_bad_selector(run: Run, selector: str) -> None:
    result = run("dkim", "keygen", "a.test", "--selector", selector, ok=False)
    assert result.exit_code != 0


def test_keygen_rejects_bad_domain(run: Run) -> None:
    result = run("dkim", "keygen", "not a domain", ok=False)
    assert result.exit_code == 1
    assert result.output.startswith("roost: ")


def test_list(run: Run, tmp_path: Path) -> None:
    """Rows per key file; `active` follows the config's selector for the domain."""
    assert "no DKIM keys" in run("dkim", "list").output
    run("dkim", "keygen", "a.test")
    run("dkim", "keygen", "b.test", "--selector", "s1", "--algorithm", "ed25519")
    run("dkim", "keygen", "b.test", "--bits", "1024")
    (tmp_path / "dkim" / "junk.pem").write_text("x")  # not <domain>.<selector>.pem: skipped
    rows = as_json(run("dkim", "list", "--json"))
    assert [(r["domain"], r["selector"], r["algorithm"], r["bits"], r["active"]) for r in rows] == [
        ("a.test", "roost", "rsa", 2048, True),
        ("b.test", "s1", "ed25519", 256, False),
        ("b.test", "s2", "rsa", 1024, True),
    ]
    assert rows[0]["key_file"] == str(tmp_path / "dkim" / "a.test.roost.pem")
    table = run("dkim", "list").output
    assert "b.test" in table
    assert "ed25519" in table


def test_list_unreadable_key(run: Run, tmp_path: Path) -> None:
    (tmp_path / "dkim").mkdir()
    (tmp_path / "dkim" / "a.test.roost.pem").write_text("garbage")
    (row,) = as_json(run("dkim", "list", "--json"))
    assert row["algorithm"] == "unreadable"


def test_dns(run: Run) -> None:
    """Name and value of the active key's record; --selector picks another; --json."""
    gen = run("dkim", "keygen", "a.test").output
    out = run("dkim", "dns", "a.test").output
    assert field(out, "name") == "roost._domainkey.a.test"
    assert field(out, "value") == field(gen, "value")
    run("dkim", "keygen", "a.test", "--selector", "k2", "--algorithm", "ed25519")
    data = as_json(run("dkim", "dns", "a.test", "--selector", "k2", "--json"))
    assert data["name"] == "k2._domainkey.a.test"
    assert len(base64.b64decode(data["value"].split("p=")[1])) == 32


def test_dns_without_key(run: Run) -> None:
    result = run("dkim", "dns", "a.test", ok=False)
    assert result.exit_code == 1
    assert "roost dkim keygen a.test --selector roost" in result.output


def test_zone_line_splits_long_values() -> None:
    """TXT character-strings hold 255 octets: an RSA-2048 record needs two."""
    value = "v=DKIM1; k=rsa; p=" + "A" * 400
    line = zone_line("s._domainkey.a.test", value)
    parts = re.findall(r'"([^"]*)"', line)
    assert [len(p) for p in parts] == [255, len(value) - 255]
    assert "".join(parts) == value
