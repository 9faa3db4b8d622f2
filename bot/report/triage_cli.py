"""`python -m bot report triage --since DATE --until DATE [--json]`: the triage report (bot/report/triage.py) of a
period, per policy, printed as text (or one JSON document), from the audit log: Redis, and the audit archive
(`--archive`) for what Redis no longer holds. Exit codes as `report oversight`'s: 0 printed; 1 Redis (or the
archive) could not be read, or holds no audit log; 2 a bad argument or setting."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Mapping

from bot.audit.archive.stores import ArchiveError, ArchiveStore, open_archive
from bot.audit.verify import UsageError
from bot.core.settings import SettingsError, StoreSettings
from bot.report.cli import ReportError, reading
from bot.report.evidence import period_of
from bot.report.span import Read, period_entries
from bot.report.triage import compute_triage
from bot.store import Store, connect


async def read_log(settings: StoreSettings, *, since: float, archive: ArchiveStore | None) -> tuple[Read, bool]:
    """The entries since `since` (the decisions of asks read in the period come after it), and whether there is a
    log."""
    redis = connect(settings.redis_url.get_secret_value(), command_timeout=settings.redis_timeout)
    try:
        store = Store(redis, prefix=settings.store_prefix, sharded=settings.store_sharded)
        read = await period_entries(store, since=since, channels=(), archive=archive)
        return read, bool(read.entries) or await store.audit.last() is not None
    finally:
        await redis.aclose()


def report_triage(*, since: str | None, until: str | None, as_json: bool = False, archive: str | None = None,
                  environ: Mapping[str, str] | None = None) -> int:
    """Print the triage report of [since, until) (ISO 8601 dates or times; `until` default now). Returns an exit
    code.

    Example::

        report_triage(since="2026-10-01", until="2026-11-01", as_json=True)
    """
    try:
        start, end = period_of("triage", since, until)
        settings = StoreSettings.from_env(environ)
        archived = open_archive(archive, retain=0) if archive is not None else None
    except (ReportError, UsageError, SettingsError, ArchiveError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    read = reading(lambda: asyncio.run(read_log(settings, since=start, archive=archived)))
    if isinstance(read, int):
        return read
    found, log_found = read
    if not log_found:
        print(f"error: no audit log found under REDIS_KEY_PREFIX {settings.key_prefix!r} in the Redis at REDIS_URL",
              file=sys.stderr)
        return 1
    if found.said:
        print(found.said, file=sys.stderr)
    report = compute_triage(found.entries, since=start, until=end)
    print(json.dumps(report.as_json(), indent=2) if as_json else "\n".join(report.lines()))
    return 0
