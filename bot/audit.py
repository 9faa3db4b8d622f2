"""`python -m bot audit`: the audit stream as JSON lines or CSV on standard output."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from redis.exceptions import RedisError

from bot.durations import DurationError, parse_duration
from bot.store import ApprovalStore, cluster_prefix, connect, is_cluster_url

COLUMNS = (
    "id",
    "at",
    "event",
    "run",
    "approval",
    "outcome",
    "by",
    "latency_ms",
    "reason",
    "feedback",
    "votes",
    "required",
    "setting",
    "before",
    "after",
    "origin_channel",
    "card_channel",
    "task",
)


def export_audit(*, since: str, channels: Sequence[str], fmt: str, out: TextIO | None = None) -> int:
    """Write audit entries since `since` (a duration back from now) to `out`. Returns an exit code."""
    try:
        seconds = parse_duration(since, max_seconds=10 * 365 * 86400)
    except DurationError as exc:
        print(f"error: --since: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_export(time.time() - seconds, channels, fmt, out or sys.stdout))
    except (RedisError, OSError) as exc:
        print(f"error: cannot read the audit log from Redis ({type(exc).__name__})", file=sys.stderr)
        return 1


async def _export(since: float, channels: Sequence[str], fmt: str, out: TextIO) -> int:
    redis = connect(os.environ.get("REDIS_URL") or "redis://localhost:6379/0")
    url = os.environ.get("REDIS_URL") or ""
    prefix = os.environ.get("REDIS_KEY_PREFIX", "hitl")
    store = ApprovalStore(redis, prefix=cluster_prefix(prefix) if is_cluster_url(url) else prefix)
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore") if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    try:
        async for entry in store.export_audit(since=since, channels=channels):
            if writer is not None:
                writer.writerow(entry)
            else:
                out.write(json.dumps(entry, ensure_ascii=False) + "\n")
    finally:
        await redis.aclose()
    return 0
