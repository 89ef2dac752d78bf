"""The ValiMail ARC signing suite (17 scenarios, fixed timestamps) against `roost.auth.arc.seal`.

The suite's expected fields were produced with dkimpy's "standardized" tag form (unfolded,
sorted tags, no spaces in h=), which ``seal(standardize=True)`` writes too; the comparison is
per tag with whitespace removed, so folding never matters but every tag value, including b=,
must be identical. The AAR is compared with whitespace runs collapsed (its relaxed form, which
is what the seal signs). The chain Roost produces must then validate through the real DNS path.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from roost.auth.arc import seal, verify_arc
from roost.auth.authresults import authserv_id_of, split_results
from roost.dns.resolver import Resolver
from tests.auth.test_arc_validation_suite import crlf, load_suite
from tests.dnsserver import DnsTestServer


def _scenarios() -> list[Any]:
    out = []
    for doc in load_suite("arc-draft-sign-tests.yml"):
        for name, test in doc["tests"].items():
            out.append(pytest.param(test, doc, id=name))
    return out


SCENARIOS = _scenarios()


def test_suite_is_complete() -> None:
    assert len(SCENARIOS) == 17


def tags(value: str) -> dict[str, str]:
    parts = [p for p in re.sub(r"\s+", "", value).split(";") if p]
    return dict(p.split("=", 1) for p in parts)


def chain_validation(message: bytes, srv_id: str) -> str:
    """The suite stamps the chain status into our own A-R field as arc=<cv>."""
    for line in re.split(rb"\r\n(?![ \t])", message.split(b"\r\n\r\n", 1)[0]):
        name, _, value = line.partition(b":")
        if name.lower() != b"authentication-results" or authserv_id_of(value) != srv_id:
            continue
        for result in split_results(value)[1:]:
            if result.lower().startswith("arc="):
                return result.split("=", 1)[1].split()[0].lower()
    return "none"


def fields(sealed: bytes) -> dict[str, str]:
    out = {}
    for line in re.split(r"\r\n(?![ \t])", sealed.decode()):
        if line:
            name, _, value = line.partition(":")
            out[name] = value
    return out


@pytest.mark.parametrize(("test", "doc"), SCENARIOS)
def test_sign(test: dict[str, Any], doc: dict[str, Any], dns_server: DnsTestServer) -> None:
    message = crlf(test["message"])
    srv_id = test["srv-id"]
    sealed = seal(
        message,
        domain=doc["domain"],
        selector=doc["sel"],
        private_key_pem=doc["privatekey"].encode(),
        authserv_id=srv_id,
        chain_validation=chain_validation(message, srv_id),
        timestamp=int(test["t"]),
        include_headers=[h.encode() for h in test["sig-headers"].split(":")],
        standardize=True,
    )
    if not (test.get("AS") or "").strip():
        assert sealed == b""  # the suite expects no new set (the chain already failed)
        return
    got = fields(sealed)
    assert list(got) == ["ARC-Seal", "ARC-Message-Signature", "ARC-Authentication-Results"]
    assert tags(got["ARC-Message-Signature"]) == tags(test["AMS"])
    assert tags(got["ARC-Seal"]) == tags(test["AS"])
    assert " ".join(got["ARC-Authentication-Results"].split()) == " ".join(test["AAR"].split())

    for name, value in doc["txt-records"].items():
        dns_server.set(name, "TXT", [" ".join(value.split())])
    result = asyncio.run(verify_arc(sealed + message, Resolver.from_config(dns_server.config())))
    expected = "fail" if tags(test["AS"])["cv"] == "fail" else "pass"
    assert result.result == expected, result.problem
