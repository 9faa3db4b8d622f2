"""`python -m bot report`: read the audit stream and the approvals waiting now, write the HTML report.

Needs only the store's settings (`StoreSettings.from_env`: REDIS_URL, REDIS_KEY_PREFIX, REDIS_TIMEOUT),
like `python -m bot audit`. Exit codes: 0 written; 1 Redis could not be read, or holds no audit log under
REDIS_KEY_PREFIX (nothing written); 2 a bad argument or setting (nothing written). The Redis URL is never
printed: it may hold a password.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bot.audit.archive.stores import ArchiveError, ArchiveStore, open_archive
from bot.core.durations import DurationError, parse_duration
from bot.core.records import ApprovalRecord
from bot.core.settings import _CHANNEL_ID, LONGEST_RETENTION, NamingSettings, SettingsError, StoreSettings
from bot.report.figures import Figures, FrozenScope, RubberStamp, compute
from bot.report.names import names_of, people_in, with_names
from bot.report.span import chains_entries
from bot.store import Store, StoreUnavailable, connect
from bot.store.freezes import Frozen
from bot.store.keys import TENANT

SINCE_FORMS = (
    "a number of seconds, minutes, hours or days: 90s, 15m, 12h, 7d, 30d "
    f"(from 1 second to {LONGEST_RETENTION // 86400} days)"
)
CHANNEL_FORMS = "a channel id such as C0123456789 (channel details → About; not a #name)"
BATCH = 1000  # approvals read per round trip
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class History:
    """What the report is computed from."""

    entries: list[dict[str, str]]
    waiting: list[ApprovalRecord]
    since: float
    now: float
    log_found: bool = True  # False: no audit log at all under the prefix (none ever written, or the wrong prefix)
    frozen: tuple[FrozenScope, ...] = ()  # the scopes frozen now, `all` first
    home_team: str = ""  # the home workspace's team (`tenants.home`): approvals recorded without one are its
    said: str = ""  # where the entries were read from, when Redis does not hold the whole period (span.py)


class ReportError(ValueError):
    """A bad argument: the message names it and the forms it takes."""


def check_since(text: str) -> int:
    """Seconds of `--since`, or ReportError naming the valid forms."""
    try:
        return parse_duration(text, max_seconds=LONGEST_RETENTION)
    except DurationError as exc:
        raise ReportError(f"--since: {exc.problem}: {text.strip()[:40]!r}; use {SINCE_FORMS}") from None


def check_channels(channels: Sequence[str]) -> tuple[str, ...]:
    for channel in channels:
        if not _CHANNEL_ID.fullmatch(channel):
            raise ReportError(f"--channel: {channel[:40]!r} is not a channel id; use {CHANNEL_FORMS}")
    return tuple(dict.fromkeys(channels))


def check_rubber_stamp(seconds: float, rate: float, minimum: int) -> RubberStamp:
    if not 0 < seconds <= 86400:
        raise ReportError(
            f"--rubber-stamp-seconds: {seconds:g} is out of range; use a number of seconds, 0 < N ≤ 86400"
        )
    if not 0 < rate <= 1:
        raise ReportError(f"--rubber-stamp-rate: {rate:g} is out of range; use a share, 0 < R ≤ 1 (0.95 for 95%)")
    if not 1 <= minimum <= 1_000_000:
        raise ReportError(f"--rubber-stamp-min: {minimum} is out of range; use a whole number of decisions, 1 or more")
    return RubberStamp(seconds=seconds, rate=rate, min_decisions=minimum)


async def read_history(store: Store, *, since: float, channels: Sequence[str], now: float, team: str = "",
                       archive: ArchiveStore | None = None) -> History:
    """The audit entries since `since` about `channels` (all when empty), and the approvals pending now about them (as
    their run's channel or their card's). `team`: only one workspace's (a tenant's id, T… or, for an org-wide
    install, E…): its pending approvals (kept under its tenant's keys) and the entries of its approvals (in its
    own audit chain, and in the home chain's history from before chains). `archive`: read for the part of the
    period Redis no longer holds."""
    read = await chains_entries(store, since=since, channels=channels, archive=archive, team=team)
    entries = read.entries
    log_found = bool(entries) or await store.audit.last() is not None
    home = await store.tenants.home()
    frozen, home_team = frozen_now(await store.freezes.all()), home.team if home is not None else ""
    if not team:
        return History(entries, await read_waiting(store, channels=channels), since, now, log_found, frozen=frozen,
                       home_team=home_team, said=read.said)
    is_home = home is None or home.tenant == team
    tenant_store = store if home is None else store.for_tenant(team, home=home.tenant)
    return History(of_tenant(entries, team, is_home=is_home), await read_waiting(tenant_store, channels=channels),
                   since, now, log_found, frozen=frozen, home_team=home_team, said=read.said)


def frozen_now(scopes: Mapping[str, Frozen]) -> tuple[FrozenScope, ...]:
    """The frozen scopes as the report shows them: `all` first, then by scope."""
    ordered = sorted(scopes.values(), key=lambda f: (f.scope != "all", f.scope))
    return tuple(FrozenScope(f.scope, f.reason, f.by, f.at) for f in ordered)


def of_tenant(entries: Sequence[dict[str, str]], tenant: str, *, is_home: bool) -> list[dict[str, str]]:
    """The entries of `tenant`'s approvals (their `requested` entry names its workspace or organisation; one that
    names none is the home workspace's), and those of no approval that name it."""

    def named(entry: dict[str, str]) -> bool:
        said = {entry.get("team") or "", entry.get("enterprise") or ""} - {""}
        return tenant in said or (is_home and not said)

    ids = {e["approval"] for e in entries if e.get("event") == "requested" and e.get("approval") and named(e)}
    return [e for e in entries if (e["approval"] in ids if e.get("approval") else named(e))]


async def read_waiting(store: Store, *, channels: Sequence[str] = ()) -> list[ApprovalRecord]:
    """Every pending approval (of `channels`, when given), without their long texts (`Approvals.pending`)."""
    return await store.approvals.pending(channels=channels)


async def load(settings: StoreSettings, *, since: float, channels: Sequence[str], now: float,
               team: str = "", archive: ArchiveStore | None = None) -> History:
    redis = connect(settings.redis_url.get_secret_value(), command_timeout=settings.redis_timeout)
    try:
        store = Store(redis, prefix=settings.store_prefix, sharded=settings.store_sharded)
        return await read_history(store, since=since, channels=channels, now=now, team=team, archive=archive)
    finally:
        await redis.aclose()


def figures_of(history: History, *, channels: Sequence[str], rubber_stamp: RubberStamp) -> Figures:
    figures = compute(
        history.entries,
        backlog=history.waiting,
        now=history.now,
        since=history.since,
        channels=channels,
        rubber_stamp=rubber_stamp,
        home_team=history.home_team,
    )
    return dataclasses.replace(figures, frozen=history.frozen)


def check_out(path: Path, flag: str, example: str) -> None:
    """A file the report may write: its folder exists and it is no folder (ReportError naming `flag`)."""
    if not path.parent.is_dir():
        raise ReportError(f"{flag}: the folder {str(path.parent)[:200]!r} does not exist")
    if path.is_dir():
        raise ReportError(f"{flag}: {str(path)[:200]!r} is a folder; give a file name such as {example}")


def reading(read: Callable[[], T]) -> T | int:
    """`read()` (what a report reads of Redis and the archive), or the exit code once what went wrong is said on
    standard error (never the Redis URL: it may hold a password)."""
    try:
        return read()
    except ArchiveError as exc:
        print(f"error: cannot read the audit archive: {exc}; nothing was written", file=sys.stderr)
        return 1
    except StoreUnavailable as exc:
        print(
            f"error: cannot read the audit log and approvals from Redis ({exc.cause}); is Redis running "
            "where REDIS_URL points, with the right password? Nothing was written.",
            file=sys.stderr,
        )
        return 1
    except ValueError:  # redis-py refuses the URL itself (its message may quote it: not shown)
        print(
            "error: REDIS_URL is not a Redis URL (redis://[:password@]host:port/db); nothing was written",
            file=sys.stderr,
        )
        return 2


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` whole or not at all (a temporary file in the same directory, renamed)."""
    handle, temporary = tempfile.mkstemp(prefix=".report-", suffix=".html", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def build_report(
    *,
    since: str,
    channels: Sequence[str],
    out: Path,
    rubber_stamp_seconds: float = 5.0,
    rubber_stamp_rate: float = 0.95,
    rubber_stamp_min: int = 20,
    settings: StoreSettings | None = None,
    environ: Mapping[str, str] | None = None,
    team: str = "",
    archive: str | None = None,
) -> int:
    """Write the report of the last `since` (a duration back from now) about `channels` (all when empty)
    to `out`. Returns an exit code; says what went wrong on standard error (never the Redis URL). The settings
    (the store's, and `NamingSettings` to name people) come from `environ` (the environment when None).

    Example::

        build_report(since="30d", channels=["C0123456789"], out=Path("report.html"))
    """
    try:
        seconds = check_since(since)
        chosen = check_channels(channels)
        rule = check_rubber_stamp(rubber_stamp_seconds, rubber_stamp_rate, rubber_stamp_min)
        if team and not TENANT.fullmatch(team):
            raise ReportError(f"--team: {team[:40]!r} is not a workspace id (T…) or an organisation's (E…)")
        check_out(out, "--out", "report.html")
        settings = StoreSettings.from_env(environ) if settings is None else settings
        archived = open_archive(archive, retain=0) if archive is not None else None
    except (ReportError, SettingsError, ArchiveError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    now = time.time()
    history = reading(lambda: asyncio.run(load(settings, since=now - seconds, channels=chosen, now=now, team=team,
                                               archive=archived)))
    if isinstance(history, int):
        return history
    if not history.log_found:
        print(
            f"error: no audit log found under REDIS_KEY_PREFIX {settings.key_prefix!r} in the Redis at REDIS_URL; is"
            " that the prefix (and the Redis) the workers use? (dev mode's is 'hitl-dev') Nothing was written.",
            file=sys.stderr,
        )
        return 1
    from bot.report.html import render  # matplotlib: only once there is something to draw

    figures = figures_of(history, channels=chosen, rubber_stamp=rule)
    try:
        naming = NamingSettings.from_env(environ)
    except SettingsError:
        naming = NamingSettings()  # naming is a courtesy: people by id
    names = asyncio.run(names_of(people_in(history.entries), settings=naming))  # {} offline, or without a token
    try:
        write_atomically(out, render(with_names(figures, names)))
    except OSError as exc:
        print(f"error: cannot write {str(out)[:200]!r} ({exc.strerror or type(exc).__name__})", file=sys.stderr)
        return 1
    if history.said:
        print(history.said, file=sys.stderr)
    summary = "nothing in the period" if figures.empty else f"{figures.decisions} decisions"
    print(f"wrote {out} ({len(history.entries)} audit entries, {summary}, {figures.backlog.total} waiting now)")
    return 0
