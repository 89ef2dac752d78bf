"""deliver() against scripted SMTP servers on 127.0.0.1 (tests/delivery/servers.py)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence

from roost.delivery.smtp_session import (
    Endpoint,
    OutboundMessage,
    OutboundRecipient,
    SessionReport,
    SmtpAuth,
    Timeouts,
    TlsRequirement,
    deliver,
)
from tests.delivery.conftest import FAST
from tests.delivery.servers import (
    Script,
    TestSmtpServer,
    accepts_all,
    drops_mid_data,
    no_8bitmime,
    no_pipelining,
    no_starttls,
    rejects_some,
    self_signed_starttls,
    small_size,
    temp_fail_then_accept,
    throttles_421,
    tls_pair,
)

BODY = b"From: a@example.com\r\nSubject: test\r\n\r\nHello.\r\n"
NO_TLS = TlsRequirement("none")


def msg(*rcpts: str, content: bytes = BODY, queue_id: str = "Q1", **kw: object) -> OutboundMessage:
    recipients = tuple(OutboundRecipient(a) for a in (rcpts or ("b@example.net",)))
    return OutboundMessage(queue_id, "a@example.com", recipients, content, **kw)  # type: ignore[arg-type]


async def _send(
    server: TestSmtpServer,
    messages: Sequence[OutboundMessage],
    tls: TlsRequirement,
    **kw: object,
) -> SessionReport:
    endpoint = Endpoint("mx.test.example", "127.0.0.1", server.port)
    return await deliver(
        endpoint,
        messages,
        helo_name="client.test",
        tls=tls,
        timeouts=kw.pop("timeouts", FAST),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def run(
    script: Script,
    messages: Sequence[OutboundMessage],
    tls: TlsRequirement = NO_TLS,
    **kw: object,
) -> tuple[SessionReport, TestSmtpServer]:
    """One deliver() session against a fresh server following `script`."""

    async def main() -> tuple[SessionReport, TestSmtpServer]:
        async with TestSmtpServer(script) as server:
            return await _send(server, messages, tls, **kw), server

    return asyncio.run(main())


def statuses(report: SessionReport) -> list[list[tuple[str, int, str]]]:
    return [[(x.status, x.code, x.enhanced) for x in m.recipients] for m in report.results]


def test_two_messages_on_one_connection() -> None:
    """Both messages go over one connection, the envelope pipelined; a completed transaction
    needs no RSET before the next MAIL (RFC 5321 §4.1.1.4)."""
    report, server = run(accepts_all(), [msg(queue_id="Q1"), msg("c@example.net", queue_id="Q2")])
    assert statuses(report) == [[("delivered", 250, "2.0.0")], [("delivered", 250, "2.0.0")]]
    assert report.error is None
    assert server.connections == 1
    assert [m.recipients for m in server.messages] == [["b@example.net"], ["c@example.net"]]
    assert server.messages[0].data == BODY
    assert server.pipelined
    assert server.commands.count("Rset") == 0
    assert server.commands[-1] == "Quit"
    assert server.messages[0].mail_params["SIZE"] == str(len(BODY))


def test_temporary_failure_then_success_on_retry() -> None:
    """A 451 to the data defers the recipient; the next attempt is delivered."""

    async def main() -> list[SessionReport]:
        async with TestSmtpServer(temp_fail_then_accept()) as server:
            return [await _send(server, [msg()], NO_TLS) for _ in range(2)]

    first, second = asyncio.run(main())
    assert statuses(first) == [[("deferred", 451, "4.3.0")]]
    assert statuses(second) == [[("delivered", 250, "2.0.0")]]


def test_some_recipients_rejected() -> None:
    """A 550 to one RCPT bounces only that recipient; the others get the data's 250."""
    report, server = run(
        rejects_some("bad@example.net"), [msg("ok@example.net", "bad@example.net")]
    )
    assert statuses(report) == [[("delivered", 250, "2.0.0"), ("bounced", 550, "5.1.1")]]
    assert server.messages[0].recipients == ["ok@example.net"]


def test_no_recipient_accepted_skips_the_data() -> None:
    """With every RCPT refused the client sends RSET, no DATA, and goes on to the next message."""
    messages = [msg("bad@example.net", queue_id="Q1"), msg("ok@example.net", queue_id="Q2")]
    report, server = run(rejects_some("bad@example.net"), messages)
    assert statuses(report) == [[("bounced", 550, "5.1.1")], [("delivered", 250, "2.0.0")]]
    assert server.commands.count("Data") == 1
    assert "Rset" in server.commands


def test_connection_dropped_mid_data_defers() -> None:
    """A connection lost during DATA defers the recipients; nothing is reported delivered."""
    report, _ = run(drops_mid_data(), [msg("x@example.net", "y@example.net")])
    assert {r.status for m in report.results for r in m.recipients} == {"deferred"}
    assert report.error is not None
    assert report.results[0].recipients[0].enhanced == "4.4.2"


def test_421_throttling_defers_the_rest() -> None:
    """A 421 ends the session: delivered stays delivered, the rest is deferred with the 421."""
    report, server = run(throttles_421(after=1), [msg(queue_id="Q1"), msg(queue_id="Q2")])
    assert statuses(report) == [[("delivered", 250, "2.0.0")], [("deferred", 421, "4.7.0")]]
    assert "421" in (report.error or "")
    assert len(server.messages) == 1


def test_no_starttls_may_sends_in_plaintext() -> None:
    """Opportunistic TLS without STARTTLS offered: delivered in plaintext, reason recorded."""
    report, server = run(no_starttls(), [msg()], TlsRequirement("may"))
    assert statuses(report) == [[("delivered", 250, "2.0.0")]]
    assert report.tls is None
    assert report.tls_failure == "starttls-not-supported"
    assert not server.messages[0].tls


def test_no_starttls_required_defers() -> None:
    """TLS required but not offered: everything deferred with 4.7.5, nothing sent."""
    report, server = run(no_starttls(), [msg()], TlsRequirement("encrypt"))
    assert statuses(report) == [[("deferred", 454, "4.7.5")]]
    assert report.tls_failure == "starttls-not-supported"
    assert server.messages == []
    assert "MailFrom" not in server.commands


def _unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def test_self_signed_encrypt_mode_uses_tls() -> None:
    """'encrypt' accepts any certificate: the message goes over TLS and EHLO is repeated."""
    report, server = run(
        self_signed_starttls(), [msg()], TlsRequirement("encrypt", _unverified(), "mx.test.example")
    )
    assert statuses(report) == [[("delivered", 250, "2.0.0")]]
    assert report.tls is not None
    assert report.tls.startswith("TLS")
    assert server.messages[0].tls
    assert server.commands.count("Ehlo") == 2


def test_self_signed_verify_mode_defers() -> None:
    """'verify' with an untrusted certificate defers with 4.7.5 and names the failure."""
    verifying = ssl.create_default_context()
    report, server = run(
        self_signed_starttls(), [msg()], TlsRequirement("verify", verifying, "mx.test.example")
    )
    assert statuses(report) == [[("deferred", 454, "4.7.5")]]
    assert report.tls_failure == "certificate-not-trusted"
    assert server.messages == []


def test_verify_mode_with_trusted_certificate_and_wrong_name() -> None:
    """A trusted certificate verifies for its name and fails as a host mismatch for another."""
    server_context, cert_pem = tls_pair("mx.test.example")
    client = ssl.create_default_context(cadata=cert_pem.decode())
    script = Script(tls=server_context)
    good, _ = run(script, [msg()], TlsRequirement("verify", client, "mx.test.example"))
    assert statuses(good) == [[("delivered", 250, "2.0.0")]]
    assert good.tls is not None
    bad, _ = run(script, [msg()], TlsRequirement("verify", client, "other.example"))
    assert bad.tls_failure == "certificate-host-mismatch"
    assert statuses(bad) == [[("deferred", 454, "4.7.5")]]


def test_may_mode_falls_back_to_plaintext_after_a_failed_handshake() -> None:
    """RFC 3207 §4.1: a failed opportunistic handshake means reconnecting without TLS."""
    report, server = run(
        self_signed_starttls(), [msg()], TlsRequirement("may", ssl.create_default_context())
    )
    assert statuses(report) == [[("delivered", 250, "2.0.0")]]
    assert report.tls is None
    assert report.tls_failure == "certificate-not-trusted"
    assert server.connections == 2
    assert not server.messages[0].tls


def test_8bit_to_server_without_8bitmime_is_converted() -> None:
    """8-bit text goes to a 7-bit server as quoted-printable, without BODY=8BITMIME."""
    content = b"Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nCaf\xc3\xa9\r\n"
    report, server = run(no_8bitmime(), [msg(content=content, body_type="8BITMIME")])
    assert statuses(report) == [[("delivered", 250, "2.0.0")]]
    received = server.messages[0]
    assert "BODY" not in received.mail_params
    assert received.data.isascii()
    assert b"Caf=C3=A9" in received.data
    assert b"Content-Transfer-Encoding: quoted-printable" in received.data


def test_8bit_to_server_with_8bitmime_is_sent_as_is() -> None:
    """With 8BITMIME offered the body goes unchanged with BODY=8BITMIME (RFC 6152)."""
    content = b"Subject: x\r\n\r\nCaf\xc3\xa9\r\n"
    report, server = run(accepts_all(), [msg(content=content)])
    assert statuses(report) == [[("delivered", 250, "2.0.0")]]
    assert server.messages[0].mail_params["BODY"] == "8BITMIME"
    assert server.messages[0].data == content


def test_unconvertible_8bit_bounces_with_563() -> None:
    """8-bit inside an embedded message cannot be downgraded: 5.6.3, and no MAIL is sent."""
    content = b"MIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\nSubject: y\r\n\r\n\xff\r\n"
    report, server = run(no_8bitmime(), [msg(content=content)])
    assert statuses(report) == [[("bounced", 554, "5.6.3")]]
    assert "MailFrom" not in server.commands


def test_utf8_address_to_server_without_smtputf8_bounces_with_567() -> None:
    """RFC 6531 §3.2: a non-ASCII recipient needs SMTPUTF8; without it, 5.6.7."""
    report, _ = run(no_8bitmime(), [msg("jörg@example.net")])
    assert statuses(report) == [[("bounced", 553, "5.6.7")]]


def test_utf8_address_with_smtputf8() -> None:
    """A UTF-8 recipient goes with the SMTPUTF8 parameter to a server offering it."""
    report, server = run(accepts_all(), [msg("jörg@example.net")])
    assert statuses(report) == [[("delivered", 250, "2.0.0")]]
    assert "SMTPUTF8" in server.messages[0].mail_params


def test_message_over_size_limit_is_not_sent() -> None:
    """RFC 1870 §6: larger than the server's SIZE bounces with 5.3.4 before MAIL."""
    report, server = run(small_size(100), [msg(content=BODY + b"x" * 200 + b"\r\n")])
    assert statuses(report) == [[("bounced", 552, "5.3.4")]]
    assert "MailFrom" not in server.commands


def test_without_pipelining_commands_wait_for_replies() -> None:
    """No PIPELINING offered: each command is written only after the previous reply."""
    report, server = run(no_pipelining(), [msg("x@example.net", "y@example.net")])
    assert statuses(report)[0] == [("delivered", 250, "2.0.0")] * 2
    assert not server.pipelined


def test_helo_fallback_when_ehlo_is_refused() -> None:
    """A 5xx to EHLO makes the client say HELO and use no extensions."""
    report, server = run(Script(ehlo_refused=True), [msg()])
    assert statuses(report) == [[("delivered", 250, "2.0.0")]]
    assert server.messages[0].mail_params == {}


def test_bdat_when_chunking() -> None:
    """chunking=True and CHUNKING offered: the body goes with BDAT, byte-identical."""
    content = BODY + b".line with a dot\r\n"
    report, server = run(accepts_all(), [msg(content=content)], chunking=True)
    assert statuses(report) == [[("delivered", 250, "2.0.0")]]
    assert "Bdat" in server.commands
    assert "Data" not in server.commands
    assert server.messages[0].data == content


def test_bare_line_endings_are_normalised_on_the_wire() -> None:
    """A body with bare LF/CR arrives with CRLF only (no smuggling through Roost)."""
    report, server = run(accepts_all(), [msg(content=b"Subject: x\n\nline\n.\nmore\r")])
    assert statuses(report) == [[("delivered", 250, "2.0.0")]]
    assert server.messages[0].data == b"Subject: x\r\n\r\nline\r\n.\r\nmore\r\n"


def test_dsn_parameters_when_offered() -> None:
    """NOTIFY, ORCPT, RET and ENVID are passed on to a server offering DSN (RFC 3461)."""
    message = OutboundMessage(
        "Q1",
        "a@example.com",
        (OutboundRecipient("b@example.net", notify="SUCCESS,FAILURE", orcpt="rfc822;b+x@y"),),
        BODY,
        ret="HDRS",
        envid="env 1",
    )
    _, server = run(accepts_all(), [message])
    received = server.messages[0]
    assert received.mail_params["RET"] == "HDRS"
    assert received.mail_params["ENVID"] == "env+201"
    assert received.rcpt_params[0] == {"NOTIFY": "SUCCESS,FAILURE", "ORCPT": "rfc822;b+2Bx@y"}


def test_auth_plain_over_tls() -> None:
    """Credentials go only after STARTTLS; MAIL follows a 235."""
    script = Script(tls=tls_pair()[0], auth=("user", "pw"))
    tls = TlsRequirement("encrypt", _unverified())
    report, server = run(script, [msg()], tls, auth=SmtpAuth("user", "pw"))
    assert statuses(report) == [[("delivered", 250, "2.0.0")]]
    assert server.messages[0].authenticated
    bad, _ = run(script, [msg()], tls, auth=SmtpAuth("user", "wrong"))
    assert statuses(bad) == [[("deferred", 454, "4.7.8")]]


def test_auth_never_in_plaintext() -> None:
    """With mode 'may' and no TLS offered, the client refuses to send the password."""
    report, server = run(
        Script(auth=("u", "p")), [msg()], TlsRequirement("may"), auth=SmtpAuth("u", "p")
    )
    assert statuses(report) == [[("deferred", 454, "4.7.0")]]
    assert "Auth" not in server.commands


def test_greeting_refusals() -> None:
    """A 554 greeting bounces everything; a 421 greeting defers it."""
    from roost.smtp.reply import Reply

    bounced, _ = run(Script(greeting=Reply(554, "5.3.2", "no service")), [msg()])
    assert statuses(bounced) == [[("bounced", 554, "5.3.2")]]
    deferred, _ = run(Script(greeting=Reply(421, "4.3.2", "busy")), [msg()])
    assert statuses(deferred) == [[("deferred", 421, "4.3.2")]]


async def _raw_server(payload: bytes | None) -> asyncio.Server:
    """A server that writes `payload` (or nothing) and then just keeps the socket open."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if payload is not None:
            writer.write(payload)
        await reader.read()  # until the client hangs up
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def _run_raw(payload: bytes | None, timeouts: Timeouts = FAST) -> SessionReport:
    async def main() -> SessionReport:
        server = await _raw_server(payload)
        port = server.sockets[0].getsockname()[1]
        try:
            return await deliver(
                Endpoint("raw", "127.0.0.1", port),
                [msg()],
                helo_name="client.test",
                tls=NO_TLS,
                timeouts=timeouts,
            )
        finally:
            server.close()
            await server.wait_closed()

    return asyncio.run(main())


def test_silent_server_times_out() -> None:
    """No greeting within the initial timeout: deferred, with the timeout as the error."""
    report = _run_raw(None, Timeouts(initial=0.2, connect=5, quit=1))
    assert statuses(report) == [[("deferred", 451, "4.4.2")]]
    assert "timeout" in (report.error or "")


def test_garbage_greeting_is_a_protocol_error() -> None:
    """A server that does not speak SMTP gets every recipient deferred with 4.5.0."""
    report = _run_raw(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    assert statuses(report) == [[("deferred", 451, "4.5.0")]]


def test_connection_refused_defers() -> None:
    """Nobody listening: deferred with 4.4.1 and a connection-level error."""

    async def main() -> SessionReport:
        server = await _raw_server(None)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        endpoint = Endpoint("gone", "127.0.0.1", port)
        return await deliver(endpoint, [msg()], helo_name="c.test", tls=NO_TLS, timeouts=FAST)

    report = asyncio.run(main())
    assert statuses(report) == [[("deferred", 451, "4.4.1")]]
    assert report.error is not None
