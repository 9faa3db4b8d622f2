"""`python -m bot audit`: the audit stream as JSON lines or CSV on standard output.

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
"""

from __future__ import annotations

import asyncio
import csv
import json
import re
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from bot.core.durations import DurationError, parse_duration
from bot.core.settings import LONGEST_RETENTION, SettingsError, StoreSettings
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
)

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
    except StoreUnavailable as exc:
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
                writer.writerow({name: safe_cell(entry[name]) for name in COLUMNS if name in entry})
            else:
                out.write(safe_json_line(entry) + "\n")
    finally:
        await redis.aclose()
    return 0
