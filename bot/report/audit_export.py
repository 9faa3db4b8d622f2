"""`python -m bot audit`: the audit stream as JSON lines or CSV on standard output."""

from __future__ import annotations

import asyncio
import csv
import json
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from redis.exceptions import RedisError

from bot.core.durations import DurationError, parse_duration
from bot.core.settings import LONGEST_RETENTION, SettingsError, StoreSettings
from bot.store import Store, connect

COLUMNS = (
    "id",
    "at",
    "event",
    "run",
    "approval",
    "outcome",
    "by",
    "for",
    "latency_ms",
    "reason",
    "feedback",
    "votes",
    "required",
    "setting",
    "before",
    "after",
    "step",
    "due",
    "mentioned",
    "to",
    "until",
    "delegate",
    "origin_channel",
    "card_channel",
    "task",
)


def export_audit(
    *,
    since: str,
    channels: Sequence[str],
    fmt: str,
    out: TextIO | None = None,
    settings: StoreSettings | None = None,
) -> int:
    """Write audit entries since `since` (a duration back from now) to `out`. Returns an exit code.
    The store is the bot's: `settings`, else `StoreSettings.from_env()` (REDIS_URL, REDIS_KEY_PREFIX...)."""
    try:
        seconds = parse_duration(since, max_seconds=LONGEST_RETENTION)
    except DurationError as exc:
        print(f"error: --since: {exc}", file=sys.stderr)
        return 2
    try:
        settings = StoreSettings.from_env() if settings is None else settings
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_export(settings, time.time() - seconds, channels, fmt, out or sys.stdout))
    except (RedisError, OSError) as exc:
        print(f"error: cannot read the audit log from Redis ({type(exc).__name__})", file=sys.stderr)
        return 1


async def _export(settings: StoreSettings, since: float, channels: Sequence[str], fmt: str, out: TextIO) -> int:
    redis = connect(settings.redis_url.get_secret_value(), command_timeout=settings.redis_timeout)
    store = Store(redis, prefix=settings.store_prefix)
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore") if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    try:
        async for entry in store.audit.export(since=since, channels=channels):
            if writer is not None:
                writer.writerow(entry)
            else:
                out.write(json.dumps(entry, ensure_ascii=False) + "\n")
    finally:
        await redis.aclose()
    return 0
