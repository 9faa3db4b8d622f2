"""Logging for a worker: plain or JSON lines (`LOG_FORMAT=json`), secrets redacted, run and approval
ids carried as fields, and AutoGen's tracebacks for runs cancelled on shutdown left out."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable

from bot.core.security import RedactingFilter

FIELDS = ("run_id", "approval_id", "worker_id")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, ids, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value:
                entry[name] = value
        if record.exc_text or record.exc_info:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        return json.dumps(entry, ensure_ascii=False)


class NoCancellationTracebacks(logging.Filter):
    """Stopping a worker cancels waiting runs (their approvals stay pending in Redis); AutoGen logs each
    cancellation as an error with a traceback. That is expected, not an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError))


def configure_logging(*, level: str, fmt: str = "text", secrets: Iterable[str] = ()) -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s %(message)s")
    root.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
    for noisy in ("autogen_core", "autogen_agentchat"):  # every agent message at INFO: too much for a worker
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))
    redactor = RedactingFilter(secrets)
    for handler in root.handlers:
        handler.addFilter(NoCancellationTracebacks())
        handler.addFilter(redactor)
        if fmt == "json":
            handler.setFormatter(JsonFormatter())
