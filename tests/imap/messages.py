"""Realistic test messages shared by the FETCH rendering and SEARCH tests (CRLF line ends)."""

from __future__ import annotations

import base64


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


PDF = bytes(range(256)) * 3
PDF_B64 = "\n".join(
    base64.b64encode(PDF).decode()[i : i + 76] for i in range(0, len(base64.b64encode(PDF)), 76)
)

# multipart/mixed: QP text with 8-bit content, a base64 attachment, a forwarded message that is
# itself multipart/alternative.
MIXED = crlf(
    """Return-Path: <alice@example.org>
From: =?UTF-8?Q?Ren=C3=A9e_Dupont?= <renee@example.org>
To: Bob Example <bob@example.com>,
 Carol <carol@example.com>
Cc: dave@example.net
Subject: =?ISO-8859-1?Q?Caf=E9?= report
 for March
Date: Tue, 04 Mar 2025 23:30:00 -0800
Message-ID: <mixed.1@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

This is the preamble.
--outer
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Bonjour, voici le r=C3=A9sum=C3=A9 du caf=C3=A9 et une tr=
=C3=A8s longue ligne.
--outer
Content-Type: application/pdf; name="report.pdf"
Content-Disposition: attachment; filename="report.pdf"
Content-Transfer-Encoding: base64

"""
    + PDF_B64
    + """
--outer
Content-Type: message/rfc822

From: Eve <eve@example.com>
To: Alice <alice@example.org>
Subject: Inner secret
Date: Mon, 3 Mar 2025 10:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: base64

"""
    + base64.b64encode("Le mot de passe est éléphant.\n".encode("latin-1")).decode()
    + """
--inner
Content-Type: text/html; charset=utf-8

<p>HTML <b>only</b> words</p>
--inner--
--outer--
Epilogue.
"""
)

SIMPLE = crlf(
    """From: Bob <bob@example.com>
To: alice@example.org
Subject: Lunch?
Date: Wed, 5 Mar 2025 12:00:00 +0100
Message-ID: <simple.1@example.com>
X-Folded: first
\tsecond

Shall we have lunch at noon?
Bob
"""
)

# 8-bit raw UTF-8 in the header, no MIME headers at all, no Date.
EIGHT_BIT = crlf(
    """From: Jörg <joerg@example.de>
To: Zoë <zoe@example.de>
Subject: Grüße aus Köln

Straße und Größe.
"""
)

# A top-level message/rfc822 whose encapsulated message is a plain text message.
DIGEST_LIKE = crlf(
    """From: list@example.org
Subject: forwarded
Content-Type: message/rfc822

From: inner@example.org
Subject: inner plain

inner body line
"""
)
