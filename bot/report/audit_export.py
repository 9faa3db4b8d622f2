"""`python -m bot audit`: the audit stream as JSON lines or CSV on standard output, or as MCP's tamper-evident audit
records (`--format sep3004`: bot/report/mcp_audit.py).

The entries hold text that programs and people wrote (a reject reason, an allow-list's words, a run's task),
and the output goes to an operator's terminal or spreadsheet, so (#33.11):

- CSV: each cell has its control characters replaced by visible stand-ins (`safe_cell`): C0 but tab and
  newline (ESC becomes ␛, BEL ␇, a lone CR ␍: U+2400 + the code), DEL (␡) and C1 (U+FFFD). ESC is what starts
  every terminal escape sequence, and C1's CSI (0x9b) or OSC (0x9d) start them alone, so no sequence survives:
  its other characters are plain text. A cell whose text starts with `=`, `+`, `-`, `@`, tab or CR (OWASP's
  CSV injection list) is prefixed with a single quote, which spreadsheets take as "text, not a formula".
- JSON lines: values stay exactly as stored (a JSON reader gets the text back); the encoder escapes C0
  (`\u001b`), and DEL and C1, which it would write raw, are written as `\u007f`, `\u009b`... too.

Neither changes the columns, nor anything but such text.

Both carry each entry's `seq` (bot/audit/), as stored: the CSV as its last column. `python -m bot audit verify`
checks them. With no audit log under REDIS_KEY_PREFIX it says so and exits 1.

Times (#35): the CSV's `at`, `due` and `until` are ISO 8601 UTC (`2026-11-23T14:05:09Z`), and a decision's
`delivered_at`, `opened_at` and `decided_at` (#80: a time to decide, read in seconds) to the millisecond
(`2026-11-23T14:05:09.250Z`); a JSON line keeps `at` in epoch seconds, as stored, and adds `at_utc`. Names: where
Slack tells them (`bot/report/names.py`), `by_name`, `for_name`, `delegate_name`, `requester_name`,
`mentioned_names` and `to_names` stand next to the ids (CSV columns after the others; JSON keys only when known).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import math
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from typing import TextIO

from bot.audit.archive.stores import ArchiveError, ArchiveStore, open_archive
from bot.core.operators import Operator, operator_of
from bot.core.settings import SettingsError, StoreSettings
from bot.report.cli import ReportError, check_channels, check_since
from bot.report.mcp_audit import records_of
from bot.report.names import names_fields, names_of, people_in
from bot.report.span import chains_entries
from bot.store import Store, StoreUnavailable, connect

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
    # what was asked (#66.7): the tool, its arguments' digest, the arguments where not hidden, the API key, the title,
    # the durable workflow
    "tool",
    "digest",
    "arguments",
    "key",
    "title",
    "workflow",
    # a vote its person's passkey confirmed (step-up, bot/stepup/): how, which passkey (its digest), when
    "amr",
    "passkey",
    "assured_at",
    # a reviewer's edit of the change (#79): the digests of the artefacts they edited, comma-separated
    "edited_artifacts",
    # how the person decided (#80, bot/store/lua/lib/oversight.lua): when the card reached them, when they opened its
    # details (empty: never), when they decided, the card's reading time and whether they decided sooner than it
    "delivered_at",
    "opened_at",
    "decided_at",
    "read_seconds",
    "fast",
    # the names of the people the entry names, where Slack tells them (bot/report/names.py)
    "by_name",
    "for_name",
    "delegate_name",
    "requester_name",
    "mentioned_names",
    "to_names",
    # each entry's place (bot/store/lua/lib/audit.lua)
    "seq",
)
TIMES = ("at", "due", "until")  # epoch seconds in the log; ISO 8601 UTC in the CSV
# epoch seconds in the log; ISO 8601 UTC to the millisecond in the CSV (a time to decide is read in seconds)
PRECISE_TIMES = ("delivered_at", "opened_at", "decided_at")

# C0 but tab and newline, DEL, C1: what a terminal may act on rather than show
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
JSON_RAW_CONTROLS = re.compile("[\x7f-\x9f]")  # what json.dumps(ensure_ascii=False) leaves raw
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _stand_in(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ … ␟ (Unicode's control pictures)
    return "\u2421" if code == 0x7F else "\ufffd"  # ␡; C1 has no pictures


def safe_cell(text: str) -> str:
    """A CSV cell safe to print and to open in a spreadsheet: control characters replaced (see the module),
    and a leading formula character made text with a single quote."""
    cell = CONTROLS.sub(_stand_in, text)
    return "'" + cell if text.startswith(FORMULA_STARTS) else cell


def safe_json_line(entry: dict[str, str]) -> str:
    """An entry as one JSON line with no raw control character (the same JSON value)."""
    line = json.dumps(entry, ensure_ascii=False)
    return JSON_RAW_CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", line)


def export_audit(
    *,
    since: str,
    channels: Sequence[str],
    fmt: str,
    who: str | None = None,
    out: TextIO | None = None,
    settings: StoreSettings | None = None,
    environ: Mapping[str, str] | None = None,
    archive: str | None = None,
) -> int:
    """Write audit entries since `since` (a duration back from now) to `out`, the export audited as run by `who`
    (`--as`, else the OS user@host: `bot.core.operators`). Returns an exit code. `archive` (`--archive URL`): the
    audit archive, read for the part of the period Redis no longer holds (bot/report/span.py); without it, a period
    Redis holds only in part is said on standard error.
    The store is the bot's: `settings`, else `StoreSettings.from_env(environ)` (REDIS_URL, REDIS_KEY_PREFIX...; the
    environment when `environ` is None, as for SLACK_BOT_TOKEN, which names people)."""
    try:
        seconds = check_since(since)
        chosen = check_channels(channels)
        settings = StoreSettings.from_env(environ) if settings is None else settings
        store_of_archive = open_archive(archive, retain=0) if archive is not None else None
    except (ReportError, SettingsError, ArchiveError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stream = out or sys.stdout
    try:
        return asyncio.run(_export(settings, time.time() - seconds, chosen, fmt, stream, environ=environ,
                                   op=operator_of(who), archive=store_of_archive))
    except ArchiveError as exc:
        print(f"error: cannot read the audit archive: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader stopped (`| head`): nothing more to say
        _quiet_stdout(stream)
        return 0
    except StoreUnavailable as exc:
        print(
            f"error: cannot read the audit log from Redis ({exc.cause}); is Redis running where REDIS_URL"
            " points, with the right password?",
            file=sys.stderr,
        )
        return 1


def _quiet_stdout(stream: TextIO) -> None:
    """After a closed pipe, point standard output at /dev/null, so Python's exit flush does not fail again."""
    if stream is sys.stdout:
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())


def iso_utc(value: str, *, millis: bool = False) -> str:
    """Epoch seconds as ISO 8601 UTC (`2026-11-23T14:05:09Z`; `millis`: `2026-11-23T14:05:09.250Z`); any other
    text as it is."""
    try:
        seconds = float(value)
    except ValueError:
        return value
    if not math.isfinite(seconds) or not 0 <= seconds < 253402300800:  # year 10000
        return value
    if not millis:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
    whole, part = divmod(round(seconds * 1000), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{part:03d}Z"


def csv_row(entry: dict[str, str], names: dict[str, str]) -> dict[str, str]:
    """An entry as a CSV row: times in ISO 8601 UTC, names next to ids, every cell safe (`safe_cell`)."""
    row = {**entry, **names_fields(entry, names)}
    for name in TIMES:
        if name in row:
            row[name] = iso_utc(row[name])
    for name in PRECISE_TIMES:
        if name in row:
            row[name] = iso_utc(row[name], millis=True)
    return {name: safe_cell(row[name]) for name in COLUMNS if name in row}


def json_entry(entry: dict[str, str], names: dict[str, str]) -> dict[str, str]:
    """An entry as a JSON line: as stored (`at` stays epoch seconds), plus `at_utc` (ISO 8601) and the names."""
    extra = {"at_utc": iso_utc(entry["at"])} if "at" in entry and iso_utc(entry["at"]) != entry["at"] else {}
    return {**entry, **extra, **names_fields(entry, names)}


async def _export(
    settings: StoreSettings, since: float, channels: Sequence[str], fmt: str, out: TextIO, *,
    environ: Mapping[str, str] | None, op: Operator, archive: ArchiveStore | None = None,
) -> int:
    redis = connect(settings.redis_url.get_secret_value(), command_timeout=settings.redis_timeout)
    store = Store(redis, prefix=settings.store_prefix, sharded=settings.store_sharded)
    try:
        if not await store.audit.exists():
            print(f"error: no audit log found under the key prefix {store.keys.prefix!r} (is REDIS_KEY_PREFIX the"
                  " bot's, and REDIS_URL its Redis?)", file=sys.stderr)
            return 1
        read = await chains_entries(store, since=since, channels=channels, archive=archive)  # (every chain)
        entries = read.entries
        await store.audit.append("audit_exported", by=op.by, format=fmt, since=repr(since), entries=len(entries),
                                 **({"channels": ",".join(channels)} if channels else {}), **op.fields(),
                                 **({"archive": archive.url} if archive is not None else {}))
    finally:
        await redis.aclose()
    if read.said:
        print(read.said, file=sys.stderr)
    if fmt == "sep3004":  # MCP's tamper-evident audit records (bot/report/mcp_audit.py): one chain segment
        for record in records_of((entry.get("id") or "", entry) for entry in entries):
            out.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
        out.flush()
        return 0
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore") if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    names = await names_of(people_in(entries), environ=environ)  # {} offline or without SLACK_BOT_TOKEN: ids alone
    for entry in entries:
        if writer is not None:
            writer.writerow(csv_row(entry, names))
        else:
            out.write(safe_json_line(json_entry(entry, names)) + "\n")
    out.flush()
    return 0
