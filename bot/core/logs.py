"""Logging for a worker: plain or JSON lines (`LOG_FORMAT=json`), secrets redacted, run and approval
ids carried as fields, AutoGen's tracebacks for runs cancelled on shutdown left out, and `LogThrottle`: a flood of
one kind of line logged now and then."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
import weakref
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any

from agent_approvals.approver import ApprovalCancelled

from bot.core.security import RedactingFilter
from bot.core.settings import DEFAULT_REDIS_URL

FIELDS = ("run_id", "approval_id", "worker_id", "key", "channel", "team", "trace_id")
# the fields of what is being done now (a request, an approval): set where it starts (`log_fields`), read by
# `ContextFields` into every record logged meanwhile, child tasks too (they copy the context)
_HELD: ContextVar[dict[str, str] | None] = ContextVar("log_fields", default=None)


@contextlib.contextmanager
def log_fields(**fields: str) -> Iterator[None]:
    """Within the block (a request, an approval's step), every log record carries `fields` (those not empty) as
    fields of its own (`FIELDS`): a JSON line has them apart from the message. `add_log_fields` adds to them."""
    held = dict(_HELD.get() or {})
    held.update({name: value for name, value in fields.items() if value})
    token = _HELD.set(held)
    try:
        yield
    finally:
        _HELD.reset(token)


def add_log_fields(**fields: str) -> None:
    """Add `fields` to those of the enclosing `log_fields` block (learnt on the way: the approval's id once it is
    made); nothing outside one."""
    held = _HELD.get()
    if held is not None:
        held.update({name: value for name, value in fields.items() if value})


class ContextFields(logging.Filter):
    """Copies the fields of the enclosing `log_fields` onto each record (a record's own `extra` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in (_HELD.get() or {}).items():
            if not getattr(record, name, None):
                setattr(record, name, value)
        return True


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
    """Stopping a worker cancels waiting runs (their approvals stay pending in Redis), and `/agent cancel` cancels
    a run and its approvals; AutoGen's runtime (`_single_threaded_agent_runtime`) logs each as an ERROR with a
    traceback: the input function's `ApprovalCancelled` (wrapped twice in `RuntimeError("Failed to get user
    input")`) or a `CancelledError`, then, for each other agent of the team, a `ValueError("Unhandled message in
    agent container: <class '...GroupChatError'>")` echoing it; and asyncio may report a task of the stopped runtime
    that failed on `task_done()` or on that echo. That is expected, not an error: the run manager says
    what happened in one line. A team's real error still shows (its first record, and "run … failed")."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info:
            return True
        error = record.exc_info[1]
        if _cancelled(error):
            return False
        if record.name.startswith("autogen_core") and isinstance(error, ValueError) and "GroupChatError" in str(error):
            return False
        # asyncio's "Task exception was never retrieved" for AutoGen's runtime stopped with messages in flight (a
        # cancelled team): `_process_publish` calls `task_done()` once too often, or the runtime's own task
        # (`RunContext._run`) raises the GroupChatError echo above because nothing was left to log it
        if record.name != "asyncio" or not isinstance(error, ValueError):
            return True
        said, message = str(error), record.getMessage()
        return not (("task_done() called too many times" in said and "_process_publish" in message)
                    or ("GroupChatError" in said and "RunContext._run" in message))


def _cancelled(error: BaseException | None) -> bool:
    """Whether `error` is a cancellation (asyncio's, or an approval's), or was raised because of one."""
    seen = 0
    while error is not None and seen < 20:
        if isinstance(error, asyncio.CancelledError | ApprovalCancelled):
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


_PASSWORD = re.compile(r"(?<=://)([^/@]*?)(:[^/@]*)?@")


def shown_url(url: str) -> str:
    """`url` with its password (if any) replaced by `***`, fit for a log line or an error message."""
    return _PASSWORD.sub(lambda m: f"{m.group(1)}{':***' if m.group(2) else ''}@", url)


def redis_where(redis: Any) -> str:
    """Where a Redis client connects, as a URL without its password (for "Redis at … is unreachable"), and
    "(REDIS_URL's default: is it set?)" when that is REDIS_URL's default (`redis://localhost:6379/0`)."""
    pool = getattr(redis, "connection_pool", None)
    options: dict[str, Any] = dict(getattr(pool, "connection_kwargs", None) or {})
    service = getattr(pool, "service_name", None)
    if service:
        where = f"Redis Sentinel's master {service}"
    elif options.get("path"):
        where = f"unix://{options['path']}"
    elif options.get("host"):
        scheme = "rediss" if "SSL" in getattr(getattr(pool, "connection_class", None), "__name__", "") else "redis"
        secret = ":***@" if options.get("password") else ""
        where = f"{scheme}://{secret}{options['host']}:{options.get('port', 6379)}/{options.get('db', 0)}"
    elif hasattr(redis, "get_nodes"):
        nodes = ",".join(f"{node.host}:{node.port}" for node in list(redis.get_nodes())[:3])
        where = f"redis+cluster://{nodes}"
    else:
        where = "Redis"
    return f"{where} (REDIS_URL's default: is it set?)" if where == DEFAULT_REDIS_URL else where


class Outage:
    """One voice for "Redis is unreachable" from the loops that retry (the decision subscription, the heartbeat,
    the supervisor, the sweepers): the first failure at WARNING naming where Redis is expected, then at most one
    line every `every` seconds while it stays down, and one line when it is back. `failed(exc)` after each
    failure, `ok()` after each success; one per Redis client (`outage_of`), shared by its loops."""

    def __init__(self, where: str, *, every: float = 60.0, logger: logging.Logger | None = None) -> None:
        self._log = logger or logging.getLogger("bot.redis")
        self._where, self._every = where, every
        self._down_since: float | None = None
        self._said_at = 0.0
        self.failures = 0

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def failed(self, error: BaseException) -> None:
        now = time.monotonic()
        self.failures += 1
        cause = error.__cause__ or error
        if self._down_since is None:
            self._down_since, self._said_at = now, now
            self._log.warning("Redis at %s is unreachable (%s); retrying", self._where, type(cause).__name__)
        elif now - self._said_at >= self._every:
            self._said_at = now
            self._log.warning("Redis at %s is still unreachable after %.0f s (%s); retrying",
                              self._where, now - self._down_since, type(cause).__name__)

    def ok(self) -> None:
        if self._down_since is not None:
            self._log.info("Redis at %s is reachable again after %.0f s", self._where,
                              time.monotonic() - self._down_since)
            self._down_since = None


_OUTAGES: weakref.WeakKeyDictionary[Any, Outage] = weakref.WeakKeyDictionary()


def outage_of(redis: Any) -> Outage:
    """The one `Outage` of the Redis client `redis` (shared by every loop of a worker that uses it)."""
    outage = _OUTAGES.get(redis)
    if outage is None:
        outage = _OUTAGES[redis] = Outage(redis_where(redis))
    return outage


def configure_logging(*, level: str, fmt: str = "text", secrets: Iterable[str] = (),
                      detectors: Iterable[str] = ()) -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s %(message)s")
    root.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
    for noisy in ("autogen_core", "autogen_agentchat"):  # every agent message at INFO: too much for a worker
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))
    redactor = RedactingFilter(secrets, detectors=detectors)
    for handler in root.handlers:
        handler.addFilter(NoCancellationTracebacks())
        handler.addFilter(ContextFields())
        handler.addFilter(redactor)
        if fmt == "json":
            handler.setFormatter(JsonFormatter())


class LogThrottle:
    """Whether to log one more line of a kind: the first of a kind is, then at most one a `every` seconds, saying
    how many were left out (the API's refusals, Teams' refused requests)."""

    def __init__(self, *, every: float = 10.0, max_kinds: int = 10_000) -> None:
        self.every = every
        self._max = max_kinds
        self._last: dict[str, float] = {}
        self._left_out: dict[str, int] = {}

    def allow(self, kind: str, now: float) -> int | None:
        """None: leave this line out; else log it, and say this many were left out since the last."""
        last = self._last.get(kind)
        if last is not None and now - last < self.every:
            self._left_out[kind] = self._left_out.get(kind, 0) + 1
            return None
        if last is None and len(self._last) >= self._max:
            self._last.clear()
            self._left_out.clear()
        self._last[kind] = now
        return self._left_out.pop(kind, 0)
