"""`roost init`: files, key modes, a valid config, a demo user whose printed password works."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

from click.testing import CliRunner

from roost.accounts.passwords import verify_password
from roost.cli.main import cli
from roost.config import load_config
from roost.store import open_store

ROOST = str(Path(sys.executable).with_name("roost"))


def _init(tmp_path: Path, *extra: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        cli, ["init", "--dir", str(tmp_path / "var"), "--domain", "Mail.Test", *extra]
    )
    return result.exit_code, result.stdout, result.stderr


def test_init_creates_a_working_installation(tmp_path: Path) -> None:
    """Config, TLS pair, DKIM key (0600), store with the domain and demo user, DNS records."""
    code, out, _ = _init(tmp_path)
    assert code == 0, out
    var = tmp_path / "var"
    config = load_config(var / "roost.toml")
    assert config.server.hostname == "mail.mail.test"
    assert tomllib.loads((var / "roost.toml").read_text())["server"]["data_dir"] == "."
    for secret in ("tls/key.pem", "dkim/mail.test.roost.pem", "roost.toml"):
        assert stat.S_IMODE((var / secret).stat().st_mode) == 0o600, secret
    assert (var / "tls/cert.pem").exists()
    password = re.search(r"password: (\S+)", out)
    assert password is not None
    store = open_store(config)
    try:
        assert store.list_domains() == ["mail.test"]
        user = store.get_user("demo@mail.test")
        assert user is not None
        assert verify_password(user.password_hash, password.group(1))
    finally:
        store.close()


def test_init_prints_dns_records(tmp_path: Path) -> None:
    """MX, SPF, DKIM at <selector>._domainkey and DMARC are printed for the operator."""
    _, out, _ = _init(tmp_path, "--hostname", "mx1.mail.test")
    assert re.search(r"^mail\.test\.\s+IN MX\s+10 mx1\.mail\.test\.$", out, re.M)
    assert '"v=spf1 mx -all"' in out
    assert re.search(r'^roost\._domainkey\.mail\.test\.\s+IN TXT\s+"v=DKIM1; k=rsa; p=', out, re.M)
    assert '"v=DMARC1; p=quarantine; rua=mailto:postmaster@mail.test"' in out


def test_init_config_is_commented(tmp_path: Path) -> None:
    """The written file explains the keys operators change, including production ports."""
    _init(tmp_path)
    text = (tmp_path / "var" / "roost.toml").read_text()
    for hint in ("0.0.0.0:25", "0.0.0.0:587", "0.0.0.0:465", "postgres", "DNSSEC", "relay"):
        assert hint in text
    assert text.count("#") > 15


def test_init_refuses_a_second_time(tmp_path: Path) -> None:
    """An existing config is never overwritten without --force."""
    _init(tmp_path)
    path = tmp_path / "var" / "roost.toml"
    before = path.read_bytes()
    code, _, err = _init(tmp_path)
    assert code == 1
    assert "already initialised; nothing changed" in err
    assert path.read_bytes() == before


def test_init_force_keeps_keys_and_resets_demo_password(tmp_path: Path) -> None:
    """--force rewrites the config but keeps the DKIM key (its DNS record is already published)."""
    _init(tmp_path)
    key = tmp_path / "var" / "dkim" / "mail.test.roost.pem"
    before = key.read_bytes()
    code, out, _ = _init(tmp_path, "--force")
    assert code == 0
    assert key.read_bytes() == before
    password = re.search(r"password: (\S+)", out)
    assert password is not None
    store = open_store(load_config(tmp_path / "var" / "roost.toml"))
    try:
        user = store.get_user("demo@mail.test")
        assert user is not None
        assert verify_password(user.password_hash, password.group(1))
    finally:
        store.close()


def test_console_script_init_and_user_list(tmp_path: Path) -> None:
    """The installed `roost` script works end to end: init, then list users via $ROOST_CONFIG."""
    var = tmp_path / "var"
    done = subprocess.run([ROOST, "init", "--dir", str(var)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    env = {**os.environ, "ROOST_CONFIG": str(var / "roost.toml")}
    listed = subprocess.run(
        [ROOST, "user", "list", "--json"], capture_output=True, text=True, env=env
    )
    assert listed.returncode == 0, listed.stderr
    assert '"email": "demo@example.test"' in listed.stdout


def test_console_script_errors_are_one_line(tmp_path: Path) -> None:
    """A missing config is one line on stderr and exit 1, no traceback; --version works."""
    done = subprocess.run(
        [ROOST, "--config", str(tmp_path / "nope.toml"), "domain", "list"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0
    assert "roost init" in done.stderr
    version = subprocess.run([ROOST, "--version"], capture_output=True, text=True)
    assert version.returncode == 0
    assert "0.1.0" in version.stdout
