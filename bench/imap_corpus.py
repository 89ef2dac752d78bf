"""A reproducible mailbox for the IMAP benchmark: realistic 2-10 KB text messages written once as a
Maildir, which Dovecot reads directly and Roost imports (`roost mailbox import`)."""

from __future__ import annotations

import email.utils
import os
import random
from pathlib import Path


def _words(text: str) -> list[str]:
    return text.split()


FIRST = _words(
    "alice bob carol dave erin frank grace heidi ivan judy mallory niaj olivia peggy rupert "
    "sybil trent victor walter yolanda zoe arthur bella cyril diana"
)
DOMAINS = _words(
    "example.com example.org mail.example.net lists.example.com corp.example shop.example "
    "news.example.org"
)
WORDS = _words(
    "the of and to in is that for it as was with be by on not he this are or his from at "
    "which but have an they you were her all she there would their we him been has when who "
    "will more no if out so said what up its about into than them can only other new some "
    "could time these two may then do first any my now such like our over man me even most "
    "made after also did many before must through back years where much your way well down "
    "should because each just meeting invoice report quarterly shipment release schedule "
    "budget draft review update"
)
START = 1_767_225_600  # 2026-01-01T00:00:00Z: messages are spread over the following ~300 days

SEARCH_FROM = "carol"  # in the From field of about 2 messages in 25


def _line(rng: random.Random) -> str:
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < 60:
        words.append(rng.choice(WORDS))
    return " ".join(words)


def message(rng: random.Random, i: int) -> tuple[bytes, int, str]:
    """(bytes with CRLF endings, date as a Unix time, Maildir info flags) of message i."""
    name = rng.choice(FIRST)
    address = f"{name}{rng.randint(1, 40)}@{rng.choice(DOMAINS)}"
    sender = f"{name.title()} {rng.choice(FIRST).title()} <{address}>"
    when = START + i * 2600 + rng.randint(0, 2000)
    subject = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))).capitalize()
    head = [
        f"Return-Path: <{name}@{DOMAINS[0]}>",
        f"Received: from mx{rng.randint(1, 9)}.{rng.choice(DOMAINS)}"
        f" (mx.example [192.0.2.{rng.randint(1, 254)}])",
        f"\tby mail.bench.test with ESMTPS id {rng.getrandbits(64):016x}",
        f"\tfor <bench@bench.test>; {email.utils.formatdate(when)}",
        f"From: {sender}",
        "To: Bench User <bench@bench.test>",
        f"Subject: {subject}",
        f"Date: {email.utils.formatdate(when)}",
        f"Message-ID: <{i}.{rng.getrandbits(48):012x}@{rng.choice(DOMAINS)}>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    target = rng.randint(2048, 10240)
    text = "\r\n".join(head) + "\r\n\r\n"
    body: list[str] = []
    size = len(text)
    while size < target:
        line = _line(rng)
        body.append(line)
        size += len(line) + 2
    data = (text + "\r\n".join(body) + "\r\n").encode()
    roll = rng.random()
    flags = "RS" if roll < 0.05 else "S" if roll < 0.75 else ""  # no F: STORE changes all
    return data, when, flags


def write_maildir(path: Path, count: int, seed: int = 42) -> int:
    """Write `count` messages into a new Maildir at `path`; returns the number of unseen ones."""
    rng = random.Random(seed)
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    unseen = 0
    for i in range(count):
        data, when, flags = message(rng, i)
        unseen += "S" not in flags
        # CRLF on disk: `roost mailbox import` keeps a file's bytes as they are, and Dovecot
        # serves CRLF files without conversion, so both servers send exactly these bytes.
        target = path / "cur" / f"{when}.M{i}P1.bench:2,{flags}"
        target.write_bytes(data)
        os.utime(target, (when, when))
    return unseen
