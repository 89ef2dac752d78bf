"""One log line per event, keyed by session and queue id, as text or JSON.

Text lines read like Postfix's (`QUEUEID: from=<a@b>, size=...`) so operators can grep a queue id
and see a message's whole story; JSON carries the same fields for log pipelines.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

_FIELDS = "roost_fields"


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        fields: dict[str, Any] = getattr(record, _FIELDS, {})
        qid = fields.get("queue_id") or fields.get("session") or "-"
        rest = ", ".join(
            f"{k}={_text(v)}" for k, v in fields.items() if k != "queue_id" and v not in ("", None)
        )
        line = f"{stamp} {record.levelname.lower()} {record.name}: {qid}: {record.getMessage()}"
        return f"{line}: {rest}" if rest else line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat()
        doc = {"ts": stamp, "level": record.levelname.lower(), "logger": record.name}
        doc["event"] = record.getMessage()
        doc.update(getattr(record, _FIELDS, {}))
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, ensure_ascii=False)


def _text(value: object) -> str:
    text = str(value)
    return f'"{text}"' if (" " in text or not text) else text


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log `event` with fields; cheap when the level is disabled."""
    if logger.isEnabledFor(level):
        logger.log(level, event, extra={_FIELDS: fields})


def setup_logging(fmt: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("roost")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
