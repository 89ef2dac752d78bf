"""Receiving mail over real sockets with Python's smtplib: local delivery, relay control, AUTH."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest

from roost.config import RoostConfig
from roost.store.types import QueueState, RcptStatus
from tests.integration.harness import (
    ALICE,
    ALICE_PASSWORD,
    BOB,
    RunningServer,
    client_tls,
    running_server,
)


def make_message(sender: str, to: str, subject: str = "hello", body: str = "Hi there.\n") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def test_mx_delivers_to_local_inbox(server: RunningServer) -> None:
    """A message for a local user is stored in the user's INBOX with trace headers added."""
    with server.smtp() as client:
        client.ehlo("sender.example")
        client.sendmail("someone@sender.example", [ALICE], make_message("a@b", ALICE, "first"))
    (msg,) = server.inbox(ALICE)
    raw = server.message_bytes(msg)
    assert raw.startswith(
        b"Return-Path: <someone@sender.example>\r\nDelivered-To: alice@roost.test\r\n"
    )
    assert b"Received: from sender.example ([127.0.0.1])" in raw
    assert b"with ESMTP id " in raw
    assert b"for <alice@roost.test>" in raw
    assert b"Subject: first" in raw
    assert msg.uid == 1
    assert msg.size == len(raw)
    assert server.store.list_queue() == []


def test_reply_carries_queue_id_that_appears_in_received(server: RunningServer) -> None:
    """The 250 after DATA names the queue id, and the Received header carries the same id."""
    with server.smtp() as client:
        client.ehlo("x.example")
        client.mail("a@x.example")
        client.rcpt(BOB)
        code, text = client.data(make_message("a@x.example", BOB))
    assert code == 250
    queue_id = text.decode().rsplit(" ", 1)[-1]
    (msg,) = server.inbox(BOB)
    assert f"id {queue_id}".encode() in server.message_bytes(msg)


def test_plus_alias_and_catch_all(server: RunningServer) -> None:
    """user+tag reaches user, an alias reaches every target, a catch-all takes the rest."""
    with server.smtp() as client:
        client.sendmail("s@x.example", ["alice+news@roost.test"], make_message("s@x", "a"))
        client.sendmail("s@x.example", ["team@roost.test"], make_message("s@x", "team"))
        client.sendmail("s@x.example", ["anything@other.test"], make_message("s@x", "any"))
    assert len(server.inbox(ALICE)) == 2
    assert len(server.inbox(BOB)) == 2


def test_unknown_local_user_refused_at_rcpt(server: RunningServer) -> None:
    """Unknown users are refused with 550 5.1.1 at RCPT, never accepted and bounced later."""
    with server.smtp() as client:
        client.ehlo("x.example")
        client.mail("s@x.example")
        code, text = client.rcpt("nobody@roost.test")
    assert code == 550
    assert text.startswith(b"5.1.1")


def test_alias_to_remote_address_is_queued(server: RunningServer) -> None:
    """An alias that forwards off-site leaves a remote recipient pending in the queue."""
    with server.smtp() as client:
        client.sendmail("s@x.example", ["forward@roost.test"], make_message("s@x", "f"))
    (entry,) = server.store.list_queue()
    assert entry.state is QueueState.INCOMING
    (rcpt,) = entry.recipients
    assert rcpt.address == "someone@remote.example"
    assert rcpt.status is RcptStatus.PENDING
    assert rcpt.orcpt == "rfc822;forward@roost.test"


def test_relay_denied_for_untrusted_client(config: RoostConfig) -> None:
    """Without AUTH and outside relay.networks, a remote recipient gets 550 5.7.1."""
    config.relay.networks = []
    with running_server(config) as server, server.smtp() as client:
        client.ehlo("x.example")
        client.mail("s@x.example")
        code, text = client.rcpt("victim@elsewhere.example")
    assert (code, text[:5]) == (550, b"5.7.1")


def test_trusted_network_may_relay(server: RunningServer) -> None:
    """A client inside relay.networks (loopback by default) may relay; the copy is queued."""
    with server.smtp() as client:
        client.sendmail("s@roost.test", ["r@elsewhere.example"], make_message("s", "r"))
    (entry,) = server.store.list_queue()
    assert entry.recipients[0].address == "r@elsewhere.example"


def test_mx_does_not_offer_auth(server: RunningServer) -> None:
    """The MX listener never offers AUTH, even after STARTTLS."""
    with server.smtp() as client:
        client.starttls(context=client_tls())
        client.ehlo("x.example")
        assert not client.has_extn("auth")
        code, _ = client.docmd("AUTH", "PLAIN AGFsaWNlAHg=")
    assert code == 502


def test_submission_requires_tls_before_auth(server: RunningServer) -> None:
    """On submission, AUTH is not offered before STARTTLS and AUTH itself gets 538."""
    with server.smtp("submission") as client:
        client.ehlo("x.example")
        assert not client.has_extn("auth")
        assert client.has_extn("starttls")
        code, text = client.docmd("AUTH", "PLAIN AGFsaWNlAHg=")
    assert (code, text[:6]) == (538, b"5.7.11")


def test_submission_requires_auth_to_send(server: RunningServer) -> None:
    """MAIL without AUTH on submission gets 530 5.7.0 (RFC 6409 §4.3)."""
    with server.smtp("submission") as client:
        client.starttls(context=client_tls())
        client.ehlo("x.example")
        code, text = client.mail(ALICE)
    assert (code, text[:5]) == (530, b"5.7.0")


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_submission_auth_and_relay(server: RunningServer, mechanism: str) -> None:
    """An authenticated user may relay anywhere; the message is queued for the remote recipient."""
    with server.smtp("submission") as client:
        client.starttls(context=client_tls())
        client.ehlo("x.example")
        assert client.has_extn("auth")
        client.user, client.password = ALICE, ALICE_PASSWORD
        auth_fn = client.auth_plain if mechanism == "PLAIN" else client.auth_login
        code, _ = client.auth(mechanism, auth_fn)
        assert code == 235
        client.sendmail(ALICE, ["friend@remote.example"], make_message(ALICE, "friend"))
    (entry,) = server.store.list_queue()
    assert entry.auth_user == ALICE
    assert entry.sender == ALICE


def test_submission_adds_message_id_and_date(server: RunningServer) -> None:
    """RFC 6409 §8: submission adds a missing Date and Message-ID; a Received says ESMTPSA."""
    raw = b"From: alice@roost.test\r\nTo: bob@roost.test\r\nSubject: bare\r\n\r\nbody\r\n"
    with server.submission() as client:
        client.sendmail(ALICE, [BOB], raw)
    (msg,) = server.inbox(BOB)
    stored = server.message_bytes(msg)
    assert b"\r\nMessage-ID: <" in stored
    assert b"\r\nDate: " in stored
    assert b"with ESMTPSA id" in stored
    assert b"(using TLSv1.3 with cipher" in stored


def test_wrong_password_refused(server: RunningServer) -> None:
    """A wrong password gets 535 5.7.8 and no session privileges."""
    with server.smtp("submission") as client:
        client.starttls(context=client_tls())
        with pytest.raises(smtplib.SMTPAuthenticationError) as info:
            client.login(ALICE, "wrong")
    assert info.value.smtp_code == 535


def test_sender_must_be_owned(server: RunningServer) -> None:
    """An authenticated user may only send from addresses they own (553 5.7.1 otherwise)."""
    with server.submission() as client:
        code, text = client.mail(BOB)
        assert (code, text[:5]) == (553, b"5.7.1")
        code, _ = client.mail("alice+tag@roost.test")
        assert code == 250
        client.rset()
        code, _ = client.mail("postmaster@roost.test")  # an alias that reaches alice
        assert code == 250


def test_submissions_implicit_tls(server: RunningServer) -> None:
    """Port 465 role: TLS from the first byte (RFC 8314), then AUTH and send."""
    with server.smtp("submissions") as client:
        client.login(ALICE, ALICE_PASSWORD)
        client.sendmail(ALICE, [BOB], make_message(ALICE, BOB))
    assert len(server.inbox(BOB)) == 1


def test_ehlo_advertises_extensions(server: RunningServer) -> None:
    """EHLO lists the ESMTP extensions Roost implements."""
    with server.smtp() as client:
        client.ehlo("x.example")
        for ext in (
            "pipelining",
            "size",
            "8bitmime",
            "smtputf8",
            "starttls",
            "enhancedstatuscodes",
            "chunking",
            "dsn",
        ):
            assert client.has_extn(ext), ext
        assert client.esmtp_features["size"] == str(server.config.limits.max_message_size)


def test_size_parameter_too_big_refused(server: RunningServer) -> None:
    """MAIL FROM with SIZE over the limit gets 552 5.3.4 (RFC 1870)."""
    with server.smtp() as client:
        client.ehlo("x.example")
        code, text = client.mail("s@x.example", [f"SIZE={10**12}"])
    assert (code, text[:5]) == (552, b"5.3.4")


def test_oversize_data_refused_and_nothing_stored(server: RunningServer) -> None:
    """A message larger than the limit is refused after DATA with 552 and not stored."""
    limit = server.config.limits.max_message_size
    body = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * (limit // 1000 + 2)
    with server.smtp() as client:
        client.ehlo("x.example")
        client.mail("s@x.example")
        client.rcpt(ALICE)
        code, text = client.data(body)
        assert (code, text[:5]) == (552, b"5.3.4")
        assert client.noop()[0] == 250
    assert server.inbox(ALICE) == []


def test_recipient_limit(server: RunningServer) -> None:
    """RCPTs past limits.max_recipients get 452 4.5.3 (RFC 5321 §4.5.3.1.10)."""
    limit = server.config.limits.max_recipients
    with server.smtp() as client:
        client.ehlo("x.example")
        client.mail("s@x.example")
        for _ in range(limit):
            assert client.rcpt(ALICE)[0] == 250
        code, text = client.rcpt(ALICE)
    assert (code, text[:5]) == (452, b"4.5.3")


def test_dsn_parameters_kept_with_envelope(server: RunningServer) -> None:
    """RFC 3461 RET, ENVID, NOTIFY and ORCPT are stored with the queued message."""
    with server.smtp() as client:
        client.ehlo("x.example")
        client.mail("s@roost.test", ["RET=HDRS", "ENVID=abc+2Bdef"])
        client.rcpt("r@remote.example", ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;orig@x.example"])
        client.data(make_message("s", "r"))
    (entry,) = server.store.list_queue()
    assert (entry.ret, entry.envid) == ("HDRS", "abc+def")
    (rcpt,) = entry.recipients
    assert rcpt.notify == "SUCCESS,FAILURE"
    assert rcpt.orcpt == "rfc822;orig@x.example"


def test_smtputf8_and_8bitmime(server: RunningServer) -> None:
    """An internationalised address (RFC 6531) and an 8-bit body (RFC 6152) are accepted."""
    server.store.add_user("jöran@roost.test", "x")
    server.reload_directory()
    body = "Subject: grüße\r\n\r\nÄ body with ümlauts\r\n".encode()
    with server.smtp() as client:
        client.ehlo("x.example")
        code, _ = client.mail("sénder@x.example", ["SMTPUTF8", "BODY=8BITMIME"])
        assert code == 250
        assert client.rcpt("jöran@roost.test")[0] == 250
        assert client.data(body)[0] == 250
    (msg,) = server.inbox("jöran@roost.test")
    raw = server.message_bytes(msg)
    assert "ümlauts".encode() in raw
    assert b"with UTF8SMTP" in raw


def test_postmaster_without_domain_is_accepted(server: RunningServer) -> None:
    """RFC 5321 §4.5.1: <postmaster> must be accepted."""
    with server.smtp() as client:
        client.ehlo("x.example")
        client.mail("s@x.example")
        assert client.rcpt("<postmaster>")[0] == 250


def test_vrfy_does_not_enumerate(server: RunningServer) -> None:
    """VRFY answers 252 for any name, existing or not."""
    with server.smtp() as client:
        client.ehlo("x.example")
        assert client.verify(ALICE)[0] == 252
        assert client.verify("nobody@roost.test")[0] == 252


def test_body_tiers(server: RunningServer) -> None:
    """Small bodies commit inline with their rows; bodies over inline_blob_max go to blob files."""
    small = make_message("s@x", ALICE, "small", "short body\n")
    large = make_message("s@x", ALICE, "large", "x" * 70 + "\n")
    large += (b"y" * 76 + b"\r\n") * (server.config.storage.inline_blob_max // 78 + 10)
    with server.smtp() as client:
        client.sendmail("s@x.example", [ALICE], small)
        client.sendmail("s@x.example", [ALICE], large)
    first, second = server.inbox(ALICE)
    assert (
        server.store.get_blob(first.blob.digest) == server.message_bytes(first)[len(first.prefix) :]
    )
    assert server.store.get_blob(second.blob.digest) is None
    assert server.message_bytes(second).endswith(large)
