"""The inbound policy sections of the config: defaults, and errors that name the fix."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from roost.config import RoostConfig


def test_defaults_follow_the_2024_provider_rules() -> None:
    config = RoostConfig()
    assert config.checks.enabled
    assert (config.checks.dmarc_reject, config.checks.dmarc_quarantine) == ("reject", "junk")
    assert config.checks.spf_fail_without_dmarc == "junk"
    assert not config.greylist.enabled
    assert config.dnsbl.zones == []
    assert (config.rspamd.address, config.clamd.address) == ("", "")


@pytest.mark.parametrize(
    ("section", "value", "words"),
    [
        ("dnsbl", {"zones": [{"zone": "bl.test", "codes": ["10.0.0.2"]}]}, "127.0.0.0/8"),
        ("lists", {"block": ["not a domain"]}, "is not an IP, network"),
        ("rspamd", {"address": "localhost"}, "is not host:port"),
        ("checks", {"dmarc_reject": "bounce"}, "reject"),
        ("ratelimit", {"messages_per_hour_per_ip": -1}, "greater than or equal"),
    ],
)
def test_bad_values_are_refused_with_the_fix(section: str, value: object, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        RoostConfig.model_validate({section: value})
    assert words in str(info.value)


def test_scanner_addresses() -> None:
    config = RoostConfig.model_validate(
        {"rspamd": {"address": "http://[::1]:11333/"}, "clamd": {"address": "/run/clamd.ctl"}}
    )
    assert config.rspamd.address == "http://[::1]:11333/"
    assert config.clamd.address == "/run/clamd.ctl"
