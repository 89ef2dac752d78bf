"""Authentication-Results (RFC 8601): exact field text, and removal of forged fields."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from roost.auth.arc import ArcResult
from roost.auth.authresults import (
    IprevReport,
    SpfReport,
    authentication_results,
    authserv_id_of,
    split_results,
    strip_forged,
)
from roost.auth.dkim_verify import DkimResult
from roost.auth.dmarc import DmarcResult, parse_record

RECORD = parse_record("v=DMARC1; p=reject")


def test_full_field_exact_text() -> None:
    field = authentication_results(
        "mx.roost.test",
        iprev=IprevReport("pass", "192.0.2.1"),
        spf=SpfReport("pass", mailfrom="bounces.example.com"),
        dkim=[
            DkimResult("pass", "example.com", "sel2024", "rsa-sha256", "Ab+/cdEF"),
            DkimResult(
                "fail", "esp.example.net", "s", "ed25519-sha256", "xyz12345", "body hash mismatch"
            ),
        ],
        dmarc=DmarcResult(
            "pass", "reject", "example.com", "example.com", RECORD, True, True, "example.com",
            "none", "aligned",
        ),
        arc=ArcResult("pass", 2, "", 0),
    )  # fmt: skip
    assert field == (
        b"Authentication-Results: mx.roost.test;\r\n"
        b" iprev=pass policy.iprev=192.0.2.1;\r\n"
        b" spf=pass smtp.mailfrom=bounces.example.com;\r\n"
        b" dkim=pass header.d=example.com header.s=sel2024 header.a=rsa-sha256\r\n"
        b'   header.b="Ab+/cdEF";\r\n'
        b' dkim=fail reason="body hash mismatch" header.d=esp.example.net header.s=s\r\n'
        b"   header.a=ed25519-sha256 header.b=xyz12345;\r\n"
        b" dmarc=pass (p=reject dis=none) header.from=example.com;\r\n"
        b" arc=pass header.oldest-pass=0\r\n"
    )
    assert all(len(line) <= 78 for line in field.split(b"\r\n"))


def test_failures_and_null_sender() -> None:
    field = authentication_results(
        "mx.roost.test",
        spf=SpfReport("none", mailfrom="", helo="host.example.org"),
        dmarc=DmarcResult(
            "fail", "reject", "example.com", "example.com", RECORD, False, False, "",
            "quarantine", "no aligned SPF or DKIM pass",
        ),
        arc=ArcResult("fail", 1, "ARC-Seal[1] did not validate"),
    )  # fmt: skip
    assert field == (
        b"Authentication-Results: mx.roost.test;\r\n"
        b" spf=none smtp.helo=host.example.org;\r\n"
        b" dkim=none;\r\n"
        b" dmarc=fail (p=reject dis=quarantine) header.from=example.com;\r\n"
        b" arc=fail (ARC-Seal[1] did not validate)\r\n"
    )


def test_no_results_and_no_record() -> None:
    assert authentication_results("mx.roost.test", dkim_checked=False) == (
        b"Authentication-Results: mx.roost.test;\r\n none\r\n"
    )
    none = DmarcResult(
        "none", "none", "x.test", "x.test", None, False, False, "", "none", "no DMARC record"
    )
    assert authentication_results("mx.roost.test", dmarc=none, dkim_checked=False) == (
        b"Authentication-Results: mx.roost.test;\r\n"
        b" dmarc=none (no DMARC record) header.from=x.test\r\n"
    )  # fmt: skip


def test_our_field_round_trips_through_the_parsers() -> None:
    field = authentication_results(
        "MX.Roost.test", spf=SpfReport("pass", mailfrom="user@example.com")
    )
    value = field.split(b":", 1)[1]
    assert authserv_id_of(value) == "mx.roost.test"
    assert split_results(value) == [
        "MX.Roost.test",
        "spf=pass smtp.mailfrom=user@example.com",
        "dkim=none",
    ]
    assert split_results(b' a.test; x=y (c; d) z="q;r"; ') == ["a.test", 'x=y (c; d) z="q;r"']


HEADER = (
    b"Received: from a by b; Mon, 01 Jan 2024 10:00:00 +0000\r\n"
    b"Authentication-Results: mx.roost.test; spf=pass smtp.mailfrom=evil.test\r\n"
    b"authentication-results : (forged) MX.ROOST.TEST;\r\n\tdkim=pass header.d=bank.test\r\n"
    b'Authentication-Results: "mx.roost.test" 1; dmarc=pass\r\n'
    b"Authentication-Results: mx.roost.test.example; spf=pass\r\n"
    b"Authentication-Results: other.test; spf=fail\r\n"
    b"ARC-Authentication-Results: i=1; mx.roost.test; spf=pass\r\n"
    b"X-Authentication-Results: mx.roost.test; keep\r\n"
    b"Subject:  odd   spacing \t\r\n"
    b"From: a@b.test\r\n"
)
BODY = b"\r\nAuthentication-Results: mx.roost.test; in the body stays\r\n"


def test_strip_forged_removes_only_ours() -> None:
    out = strip_forged(HEADER + BODY, "mx.roost.test")
    assert (
        out
        == (
            b"Received: from a by b; Mon, 01 Jan 2024 10:00:00 +0000\r\n"
            b"Authentication-Results: mx.roost.test.example; spf=pass\r\n"
            b"Authentication-Results: other.test; spf=fail\r\n"
            b"ARC-Authentication-Results: i=1; mx.roost.test; spf=pass\r\n"
            b"X-Authentication-Results: mx.roost.test; keep\r\n"
            b"Subject:  odd   spacing \t\r\n"
            b"From: a@b.test\r\n"
        )
        + BODY
    )


def test_strip_forged_leaves_other_messages_identical() -> None:
    message = HEADER.replace(b"\r\n", b"\n") + BODY.replace(b"\r\n", b"\n")
    assert strip_forged(message, "nobody.test") is message
    lf = strip_forged(message, "mx.roost.test")
    assert b"bank.test" not in lf
    assert lf.endswith(BODY.replace(b"\r\n", b"\n"))
    assert strip_forged(b"", "mx.roost.test") == b""
    assert strip_forged(b"no header end", "mx.roost.test") == b"no header end"


_LINES = st.lists(
    st.one_of(
        st.binary(max_size=40),
        st.sampled_from([
            b"Authentication-Results: mx.roost.test; spf=pass\r\n",
            b"Authentication-Results:(c\\)mx.roost.test\r\n",
            b'Authentication-Results: "mx.roost.test\r\n',
            b"Authentication-Results:\r\n",
            b" continuation\r\n",
            b"\r\n",
            b"\n",
            b"X: y\r\n",
        ]),
    ),
    max_size=20,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(_LINES)
def test_random_headers_never_raise(lines: list[bytes]) -> None:
    message = b"".join(lines)
    out = strip_forged(message, "mx.roost.test")
    assert len(out) <= len(message)
    assert strip_forged(out, "mx.roost.test") == out  # nothing of ours is left behind
    # Nothing but whole A-R fields with our id disappears: what is left is a subsequence.
    removed = len(message) - len(out)
    if removed == 0:
        assert out == message
    else:
        assert re.search(rb"(?i)authentication-results", message)
