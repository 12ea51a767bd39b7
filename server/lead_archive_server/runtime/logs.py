"""Log output: one readable or JSON line per record, with a request's fields alongside.

Code that logs a request passes its fields as ``extra={"fields": {...}}``; both formatters
render them (``key=value`` after the message, or JSON members). Only the fields given are
written: callers never put a key, a password or lead data in them.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

FIELDS = "fields"


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The request fields attached to a record, if any."""
    value = getattr(record, FIELDS, None)
    return dict(value) if isinstance(value, dict) else {}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the request's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(fields_of(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message key=value …``, for people reading a terminal or journal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        pairs = " ".join(f"{key}={_text_value(value)}" for key, value in fields_of(record).items())
        return f"{text} {pairs}" if pairs else text


def _text_value(value: object) -> str:
    text = "-" if value is None or value == "" else str(value)
    return json.dumps(text) if any(c in text for c in ' "=') else text


def configure(log_format: str = "text", level: str = "INFO") -> None:
    """Send every logger (uvicorn's too) through one handler on stderr in the chosen format."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
