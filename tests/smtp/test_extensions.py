"""EHLO keywords and typed MAIL/RCPT parameters (RFC 1870, 6152, 6531, 4954 §5, 3461)."""

from __future__ import annotations

import pytest

from roost.smtp.events import MailFrom, RcptTo
from roost.smtp.extensions import (
    MailParams,
    ParamError,
    RcptParams,
    ehlo_lines,
    parse_mail_params,
    parse_rcpt_params,
    split_params,
    xtext_decode,
)
from roost.smtp.reply import C501_SYNTAX, C555_UNKNOWN_PARAM
from tests.smtp.transcript import Transcript


def test_ehlo_all_extensions() -> None:
    """Every keyword appears, one per line, with no enhanced code (RFC 2034 §3)."""
    reply = ehlo_lines(
        "mx.example",
        "Hello client",
        size=1000,
        starttls=True,
        auth_mechanisms=["plain", "LOGIN"],
        chunking=True,
        smtputf8=True,
        dsn=True,
    )
    assert reply.code == 250
    assert reply.enhanced == ""
    assert reply.format() == (
        b"250-mx.example Hello client\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n"
        b"250-SMTPUTF8\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-AUTH PLAIN LOGIN\r\n"
        b"250-CHUNKING\r\n250 DSN\r\n"
    )


def test_ehlo_minimal() -> None:
    """Disabled extensions are not advertised."""
    reply = ehlo_lines(
        "mx.example",
        "",
        size=0,
        starttls=False,
        auth_mechanisms=(),
        chunking=False,
        smtputf8=False,
        dsn=False,
    )
    assert reply.text.split("\n") == [
        "mx.example",
        "PIPELINING",
        "SIZE 0",
        "8BITMIME",
        "ENHANCEDSTATUSCODES",
    ]


def test_mail_params_typed() -> None:
    """All supported MAIL parameters are parsed into MailParams."""
    params = split_params(" size=123 Body=8bitmime SMTPUTF8 RET=hdrs ENVID=a+2Bb AUTH=<>")
    assert parse_mail_params(params) == MailParams(
        size=123, body="8BITMIME", smtputf8=True, ret="HDRS", envid="a+b", auth="<>"
    )


def test_mail_params_empty() -> None:
    """No parameters give defaults."""
    assert parse_mail_params({}) == MailParams()


@pytest.mark.parametrize(
    "params",
    [
        {"SIZE": None},
        {"SIZE": "-1"},
        {"SIZE": "1" * 21},
        {"BODY": "BINARYMIME"},
        {"SMTPUTF8": "yes"},
        {"RET": "ALL"},
        {"ENVID": "a+zz"},
        {"ENVID": "x" * 101},
        {"AUTH": None},
        {"RET": None},
    ],
)
def test_bad_mail_param_values(params: dict[str, str | None]) -> None:
    """Bad values raise ParamError with a 501 5.5.4 reply."""
    with pytest.raises(ParamError) as info:
        parse_mail_params(params)
    assert (info.value.reply.code, info.value.reply.enhanced) == (501, "5.5.4")


def test_unknown_mail_param() -> None:
    """Unknown parameters raise ParamError 555 5.5.4."""
    with pytest.raises(ParamError) as info:
        parse_mail_params({"XFOO": "1"})
    assert info.value.reply == C555_UNKNOWN_PARAM.with_text("Unknown MAIL parameter XFOO")


def test_smtputf8_unknown_when_disabled() -> None:
    """SMTPUTF8 is an unknown parameter when not offered."""
    with pytest.raises(ParamError):
        parse_mail_params({"SMTPUTF8": None}, smtputf8_enabled=False)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("NEVER", ("NEVER",)), ("success,FAILURE", ("SUCCESS", "FAILURE")), ("DELAY", ("DELAY",))],
)
def test_notify(value: str, expected: tuple[str, ...]) -> None:
    """NOTIFY is a comma list of SUCCESS/FAILURE/DELAY, or NEVER (RFC 3461 §4.1)."""
    assert parse_rcpt_params({"NOTIFY": value}) == RcptParams(notify=expected)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["NEVER,SUCCESS", "SOMETIMES", "", "SUCCESS,SUCCESS", "a,,b"])
def test_bad_notify(value: str) -> None:
    """NEVER must stand alone; unknown or repeated values are refused."""
    with pytest.raises(ParamError):
        parse_rcpt_params({"NOTIFY": value})


def test_orcpt() -> None:
    """ORCPT is addr-type;xtext, decoded (RFC 3461 §4.2)."""
    assert parse_rcpt_params({"ORCPT": "rfc822;a+2Bb@c.example"}) == RcptParams(
        orcpt="rfc822;a+b@c.example"
    )


@pytest.mark.parametrize("value", ["rfc822", ";a@b", "rfc822;", "rfc822;a+4"])
def test_bad_orcpt(value: str) -> None:
    """Malformed ORCPT raises ParamError."""
    with pytest.raises(ParamError):
        parse_rcpt_params({"ORCPT": value})


def test_xtext() -> None:
    """xtext decodes +XX with upper-case hex only (RFC 3461 §4)."""
    assert xtext_decode("a+2Bb+3Dc") == "a+b=c"
    assert xtext_decode("plain") == "plain"
    with pytest.raises(ParamError):
        xtext_decode("a+2b")


@pytest.mark.parametrize("text", ["SIZE=", "=1", "A=B=C D", "K=\x01", "SIZE=1 SIZE=2", "-X"])
def test_split_params_rejects(text: str) -> None:
    """Malformed or repeated parameter syntax is 501."""
    with pytest.raises(ParamError) as info:
        split_params(text)
    assert info.value.reply.code == C501_SYNTAX.code


def test_connection_passes_params_through(t: Transcript) -> None:
    """The events carry upper-cased keys with raw values, already validated."""
    t.ehlo()
    t.cmd(
        "MAIL FROM:<a@b.example> size=10 body=8BITMIME",
        event=MailFrom("a@b.example", {"SIZE": "10", "BODY": "8BITMIME"}),
    )
    t.cmd(
        "RCPT TO:<c@d.example> notify=SUCCESS,DELAY ORCPT=rfc822;c@d.example",
        event=RcptTo("c@d.example", {"NOTIFY": "SUCCESS,DELAY", "ORCPT": "rfc822;c@d.example"}),
    )


def test_params_need_space_after_path(t: Transcript) -> None:
    """A parameter glued to the path is a syntax error."""
    from roost.smtp.reply import C501_BAD_SENDER

    t.ehlo()
    t.cmd("MAIL FROM:<a@b.example>SIZE=1", expect=C501_BAD_SENDER)
