"""`python -m bot report` as an operator runs it (in this process, `tests/support/cli.py`; a real process for the
scripted history) over a scripted history, an empty one, bad arguments, and a Redis that cannot be reached (its URL
never shown)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.report.html import PLOT_IDS
from bot.store import Store, connect
from tests.conftest import SALES, start_redis
from tests.support.cli import Ran, bot_command
from tests.support.history import OPS, Page, assert_self_contained, write_scripted

ROOT = Path(__file__).resolve().parents[2]


async def cli(*args: str, redis_url: str, **env: str) -> Ran:
    """`python -m bot report *args` with REDIS_URL and `env` as its whole environment (in this process)."""
    return await bot_command("report", *args, environ={"REDIS_URL": redis_url, **env})


@pytest.mark.slow
async def test_cli_writes_the_report_of_a_scripted_history(store: Store, redis_url: str, tmp_path: Path) -> None:
    """The command as an operator runs it: a real process."""
    await write_scripted(store)
    out = tmp_path / "report.html"
    environment = {key: value for key, value in os.environ.items() if key != "REDIS_KEY_PREFIX"}
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "bot", "report", "--since", "30d", "--out", str(out)],
        env={**environment, "REDIS_URL": redis_url}, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {out} (") and "41 decisions, 4 waiting now" in done.stdout
    assert "Traceback" not in done.stderr
    html = out.read_text()
    page = Page(html)
    assert page.rows("table-by-channel")[1] == [SALES, "12", "50 s", "1 min 40 s", "6 min 40 s", "4", "25%", "0"]
    assert page.text_of("tile-p90", html) == "2 minp90 time to decision"
    assert sorted(page.svg_in) == sorted(PLOT_IDS)
    assert_self_contained(html)
    assert [n for n in os.listdir(tmp_path) if n.startswith(".report-")] == []  # no temporary file left

    # one channel; and the rubber-stamp thresholds from the command line
    ops = tmp_path / "ops.html"
    args = ("--since", "30d", "--channel", OPS, "--out", str(ops), "--rubber-stamp-min", "21")
    done = await cli(*args, redis_url=redis_url)
    assert done.returncode == 0, done.stderr
    html = ops.read_text()
    page = Page(html)
    assert [row[0] for row in page.rows("table-by-channel")] == [OPS]
    assert page.text_of("tile-decisions", html) == "25decisions"  # 24 by people and the cancelled one
    assert page.text_of("tile-waiting", html) == "2waiting now"
    assert page.rows("table-automatic-modes") == [["terminate", "2", "0"], ["never", "0", "1"]]
    assert "at least 21 acts in the period" in html and 'id="rubber-stamp-none"' in html
    assert f"· {OPS} ·" in html  # the page names the channel


async def test_cli_empty_history_gives_a_clear_page(store: Store, redis_url: str, tmp_path: Path) -> None:
    await store.audit.append("requested", approval="a-elsewhere", origin_channel=SALES, kind="message")
    out = tmp_path / "report.html"
    done = await cli("--since", "7d", "--channel", OPS, "--out", str(out), redis_url=redis_url)  # nothing about OPS
    assert done.returncode == 0, done.stderr
    assert "nothing in the period" in done.stdout
    html = out.read_text()
    assert 'id="empty"' in html and "Nothing to report" in html and "<figure" not in html
    assert_self_contained(html)


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_no_audit_log_under_the_prefix_is_said_and_fails(store: Store, redis_url: str, tmp_path: Path) -> None:
    """An empty Redis, or one whose log is under another REDIS_KEY_PREFIX: "no audit log found", exit 1, nothing
    written (not a report of "0 entries")."""
    out = tmp_path / "report.html"
    for prefix in ("hitl", "hitl-dev"):
        done = await cli("--out", str(out), redis_url=redis_url, REDIS_KEY_PREFIX=prefix)
        assert done.returncode == 1, (done.stdout, done.stderr)
        assert done.stderr.startswith(f"error: no audit log found under REDIS_KEY_PREFIX {prefix!r}"), done.stderr
        assert "Traceback" not in done.stderr and done.stdout == "" and not out.exists()
    await store.audit.append("requested", approval="a-here", origin_channel=SALES, kind="message")  # under hitl
    wrong = await cli("--out", str(out), redis_url=redis_url, REDIS_KEY_PREFIX="hitl-dev")
    assert wrong.returncode == 1 and "no audit log found under REDIS_KEY_PREFIX 'hitl-dev'" in wrong.stderr
    assert not out.exists()
    right = await cli("--out", str(out), redis_url=redis_url, REDIS_KEY_PREFIX="hitl")
    assert right.returncode == 0 and "(1 audit entries" in right.stdout, (right.stdout, right.stderr)
    assert out.exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--since", "soon"), ["--since: not a duration: 'soon'", "90s, 15m, 12h, 7d, 30d", "3650 days"]),
        (("--since", "0s"), ["--since: out of range: '0s'", "from 1 second to 3650 days"]),
        (("--since", "9999d"), ["--since: out of range", "3650 days"]),
        (("--since", "30d", "--channel", "#sales"), ["--channel: '#sales' is not a channel id", "C0123456789"]),
        (("--since", "30d", "--channel", "general"), ["--channel: 'general' is not a channel id", "not a #name"]),
        (("--since", "30d", "--channel", "C0OPS", "--channel", "c0lower"), ["--channel: 'c0lower'"]),
        (("--since", "30d", "--team", "eu-workspace"), ["--team: 'eu-workspace' is not a workspace id (T…)"]),
        (
            (
                "--rubber-stamp-rate",
                "1.5",
            ),
            ["--rubber-stamp-rate: 1.5 is out of range", "0.95 for 95%"],
        ),
        (
            (
                "--rubber-stamp-min",
                "0",
            ),
            ["--rubber-stamp-min: 0 is out of range"],
        ),
    ],
)
async def test_bad_arguments_are_refused_with_the_valid_forms(
    args: tuple[str, ...], expected: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    # a Redis that is not there: the arguments are refused before anything is read
    done = await cli(*args, "--out", str(out), redis_url="redis://127.0.0.1:9/0")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr
    for text in expected:
        assert text in done.stderr, (text, done.stderr)
    assert not out.exists() and os.listdir(tmp_path) == []


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_redis_unreachable_or_refusing_never_shows_the_url(tmp_path: Path) -> None:
    secret = "s3cr3t-Passw0rd"
    out = tmp_path / "report.html"
    # nothing listens there
    done = await cli("--out", str(out), redis_url=f"redis://:{secret}@127.0.0.1:9/0")
    assert done.returncode == 1 and "cannot read the audit log" in done.stderr and "REDIS_URL" in done.stderr
    assert secret not in done.stderr + done.stdout and "127.0.0.1:9" not in done.stderr
    assert "Traceback" not in done.stderr and not out.exists()
    # a Redis with a password: the right one works, a wrong one is refused; neither is ever shown
    server = start_redis()
    try:
        import redis as sync_redis

        admin = sync_redis.Redis(port=server.port)
        admin.config_set("requirepass", secret)
        admin.close()
        good = f"redis://:{secret}@127.0.0.1:{server.port}/0"
        logged = connect(good)
        await Store(logged).audit.append("requested", approval="a-one", origin_channel=SALES, kind="message")
        await logged.aclose()
        done = await cli("--since", "1d", "--out", str(out), redis_url=good)
        assert done.returncode == 0, done.stderr
        html = out.read_text()
        assert secret not in html + done.stdout + done.stderr and str(server.port) not in html
        assert "redis://" not in html
        out.unlink()
        wrong = f"redis://:not-{secret}@127.0.0.1:{server.port}/0"
        done = await cli("--since", "1d", "--out", str(out), redis_url=wrong)
        assert done.returncode == 1 and "cannot read the audit log" in done.stderr
        assert secret not in done.stderr + done.stdout and not out.exists()
    finally:
        server.process.terminate()
        server.process.wait(timeout=10)
