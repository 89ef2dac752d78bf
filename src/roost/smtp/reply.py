"""SMTP replies (RFC 5321 §4.2) with RFC 3463 enhanced status codes, and the named constants.

No reply text is built outside this module; sessions pick a constant or call `Reply.with_text`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class Reply:
    code: int
    enhanced: str  # RFC 3463 "x.y.z"; "" for replies that carry none (220 greeting, 221?, 334)
    text: str  # may contain "\n" for a multi-line reply

    def with_text(self, text: str) -> Reply:
        return replace(self, text=text)

    @property
    def is_positive(self) -> bool:
        return 200 <= self.code < 400

    def format(self) -> bytes:
        """The reply on the wire: 'code-text' continuation lines and a final 'code text' line."""
        lines = self.text.split("\n") if self.text else [""]
        out = []
        for i, line in enumerate(lines):
            sep = " " if i == len(lines) - 1 else "-"
            # RFC 2034 §4: the enhanced code is repeated on every line of a multi-line reply.
            body = f"{self.enhanced} {line}" if self.enhanced else line
            out.append(f"{self.code}{sep}{body}".rstrip(" ") + "\r\n")
        return "".join(out).encode("utf-8")
