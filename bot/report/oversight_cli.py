"""`python -m bot report oversight --since DATE --until DATE`: the oversight report (bot/report/oversight.py) of a
period, as one HTML page (`--out`) and a CSV of the same figures (`--csv`), from the audit log: Redis, and the audit
archive (`--archive`) for what Redis no longer holds. Exit codes as `python -m bot report`'s (bot/report/cli.py): 0
written; 1 Redis (or the archive) could not be read, or holds no audit log; 2 a bad argument or setting; nothing is
written unless both files are."""

from __future__ import annotations

import asyncio
import csv
import io
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from bot.audit.archive.stores import ArchiveError, ArchiveStore, open_archive
from bot.audit.verify import UsageError
from bot.core.settings import NamingSettings, SettingsError, StoreSettings
from bot.report.audit_export import safe_cell
from bot.report.cli import ReportError, check_channels, check_out, reading, write_atomically
from bot.report.evidence import period_of
from bot.report.names import named, names_of
from bot.report.oversight import CSV_COLUMNS, Oversight, compute_oversight, csv_rows
from bot.report.span import Read, chains_entries
from bot.store import Store, connect


async def read_log(settings: StoreSettings, *, archive: ArchiveStore | None) -> tuple[Read, bool]:
    """Every entry of the log (attestations held from before the period count), and whether there is a log."""
    redis = connect(settings.redis_url.get_secret_value(), command_timeout=settings.redis_timeout)
    try:
        store = Store(redis, prefix=settings.store_prefix, sharded=settings.store_sharded)
        read = await chains_entries(store, since=0.0, channels=(), archive=archive)  # (every chain)
        return read, bool(read.entries) or await store.audit.last() is not None
    finally:
        await redis.aclose()


def people_of(oversight: Oversight) -> set[str]:
    """The people the page names."""
    return {p.person for r in oversight.routes for p in r.people} | {person for person, _ in oversight.rerouted_by}


def named_people(oversight: Oversight, names: Mapping[str, str]) -> Oversight:
    """`oversight` with each person shown as `name (id)` where the name is known (the page; the CSV keeps ids)."""
    if not names:
        return oversight
    routes = tuple(replace(r, people=tuple(replace(p, person=named(p.person, names)) for p in r.people))
                   for r in oversight.routes)
    moved = tuple((named(person, names), n) for person, n in oversight.rerouted_by)
    return replace(oversight, routes=routes, rerouted_by=moved)


def oversight_csv(oversight: Oversight) -> str:
    """The CSV of the figures (`csv_rows`), every cell safe to open in a spreadsheet."""
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    writer.writerows({name: safe_cell(value) for name, value in row.items()} for row in csv_rows(oversight))
    return out.getvalue()


def build_oversight(*, since: str | None, until: str | None, channels: Sequence[str], out: Path,
                    csv_out: Path | None = None, archive: str | None = None,
                    environ: Mapping[str, str] | None = None) -> int:
    """Write the oversight report of [since, until) (ISO 8601 dates or times; `until` default now) about `channels`
    (all when empty) to `out` and `csv_out` (default: `out` with the suffix .csv). Returns an exit code.

    Example::

        build_oversight(since="2026-10-01", until="2026-11-01", channels=[], out=Path("oversight.html"))
    """
    csv_out = csv_out if csv_out is not None else out.with_suffix(".csv")
    try:
        start, end = period_of("oversight", since, until)
        chosen = check_channels(channels)
        check_out(out, "--out", "oversight.html")
        check_out(csv_out, "--csv", "oversight.csv")
        settings = StoreSettings.from_env(environ)
        archived = open_archive(archive, retain=0) if archive is not None else None
    except (ReportError, UsageError, SettingsError, ArchiveError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    read = reading(lambda: asyncio.run(read_log(settings, archive=archived)))
    if isinstance(read, int):
        return read
    (found, log_found) = read
    if not log_found:
        print(f"error: no audit log found under REDIS_KEY_PREFIX {settings.key_prefix!r} in the Redis at REDIS_URL;"
              " nothing was written.", file=sys.stderr)
        return 1
    from bot.report.html import render_oversight  # matplotlib: only once there is something to draw

    oversight = compute_oversight(found.entries, since=start, until=end, channels=chosen)
    try:
        naming = NamingSettings.from_env(environ)
    except SettingsError:
        naming = NamingSettings()  # naming is a courtesy: people by id
    names = asyncio.run(names_of(people_of(oversight), settings=naming))  # {} offline, or without a token
    try:
        write_atomically(csv_out, oversight_csv(oversight))  # (people by id: the log's own)
        write_atomically(out, render_oversight(named_people(oversight, names), channels=chosen))
    except OSError as exc:
        print(f"error: cannot write the report ({exc.strerror or type(exc).__name__})", file=sys.stderr)
        return 1
    if found.said:
        print(found.said, file=sys.stderr)
    acts = sum(r.acts for r in oversight.routes)
    print(f"wrote {out} and {csv_out} ({oversight.entries} audit entries in the period, {len(oversight.routes)}"
          f" routes, {acts} acts, {len(oversight.drills)} freeze drills)")
    return 0
