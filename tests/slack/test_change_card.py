"""The change on the card (bot/slack/blocks/changes.py): the summary, the first hunk of each file, a command, a
message and a query, the link to the whole change; inert, and valid by slack_sdk's models and the local Slack's
limits whatever the size (a 2,000-line file, a 500-file diff, lines of 100,000 characters)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from bot.devslack.blockkit import validate_blocks
from bot.slack.blocks import build_approval_blocks, build_decided_blocks
from bot.slack.blocks.approval_card import item_summary
from bot.slack.blocks.changes import CHANGE_BLOCKS, CHANGE_BUDGET, change_blocks
from bot.slack.blocks.home import asked_line
from tests.support.blockkit import EVIL, assert_inert, assert_valid, tool_call

PAGES = "http://localhost:8080"


def numbered(count: int) -> str:
    return "".join(f"line {i}\n" for i in range(1, count + 1))


def with_artifacts(*artifacts: dict[str, Any], **changes: Any) -> Any:
    kept = [{**a, "sha256": "0" * 64} for a in artifacts]
    return replace(tool_call(), artifacts=json.dumps(kept), **changes)


def text_of(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def checked(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    assert validate_blocks(blocks) is None, validate_blocks(blocks)
    assert_valid({"type": "modal", "title": {"type": "plain_text", "text": "t"}, "blocks": blocks})
    ours = f"<{PAGES}/approvals/aaaaaaaa-0000/diff|See the whole change>"  # the one link made, from our own URL
    assert_inert({"blocks": json.loads(text_of(blocks).replace(json.dumps(ours)[1:-1], "our link"))})
    return blocks


def test_a_2000_line_file_shows_its_summary_first_hunk_and_link() -> None:
    before = numbered(2000)
    after = before.replace("line 10\n", "line ten\n").replace("line 1500\n", "")
    approval = with_artifacts({"kind": "file", "path": "src/big.py", "before": before, "after": after})
    blocks = checked(build_approval_blocks(approval, pages=PAGES))
    shown = text_of(blocks)
    assert "*The change:* +1 −2 in 1 file" in shown
    assert "@@ -7,7 +7,7 @@" in shown and "-line 10\\n+line ten" in shown
    assert "src/big.py · +1 −2" in shown and "… 7 more lines" in shown
    assert f"<{PAGES}/approvals/{approval.id}/diff|See the whole change>" in shown
    assert "@@ -1497" not in shown  # the first hunk only
    assert "+1 −2 in 1 file" in item_summary(approval) and "+1 −2 in 1 file" in asked_line(approval)
    decided = checked(build_decided_blocks(replace(approval, status="approved", decided_by="U0BOB"), pages=PAGES))
    assert "*The change:* +1 −2 in 1 file" in text_of(decided) and "See the whole change" in text_of(decided)


def test_untrusted_text_in_every_part_stays_inert() -> None:
    approval = with_artifacts(
        {"kind": "file", "path": f"<!channel>{EVIL}.py", "before": f"{EVIL}\n", "after": f"{EVIL}\n```\n{EVIL}\n"},
        {"kind": "command", "command": EVIL, "cwd": EVIL},
        {"kind": "message", "to": ["<@U0CEO>", "a@b.c"], "subject": EVIL, "body": f"{EVIL}\n" * 20},
        {"kind": "query", "sql": EVIL, "database": EVIL},
        task=EVIL, why=EVIL)
    blocks = checked(build_approval_blocks(approval, pages=PAGES))
    assert "&lt;!channel&gt;" in text_of(blocks) and "message to 2 recipients" in text_of(blocks)


@pytest.mark.parametrize("artifacts", [
    [{"kind": "file", "path": "all.txt", "before": numbered(2000), "after": numbered(2000).replace("line", "LINE")}],
    [{"kind": "file", "path": "wide.min.js", "before": "x" * 100_000 + "\n", "after": "<>&" * 40_000 + "\n"}],
    [{"kind": "file", "path": "p" * 4096, "before": "a\n", "after": "b\n"}],
    [{"kind": "file", "path": "repo", "before_sha256": "0" * 64,
      "diff": "".join(f"--- a/f{i}\n+++ b/f{i}\n@@ -1,1 +1,1 @@\n-a{i}\n+b{i}\n" for i in range(500))}],
    [{"kind": "file", "path": f"f{i}", "before": numbered(2000), "after": numbered(2001)} for i in range(20)],
    [{"kind": "command", "command": "<>" * 30_000}] * 20,
    [{"kind": "message", "to": [f"p{i}@x.org" for i in range(100)], "subject": "s" * 1000, "body": "&\n" * 9000}] * 20,
])
def test_any_size_stays_within_slacks_limits_and_says_what_it_left_out(artifacts: list[dict[str, Any]]) -> None:
    approval = with_artifacts(*artifacts, task="t" * 600, why="w" * 500, arguments=json.dumps({"x": "y" * 9000}),
                              proposal=json.dumps({"x": "y" * 9000}), policy_reason="r" * 500)
    part = change_blocks(approval, pages=PAGES)
    assert len(part) <= CHANGE_BLOCKS and sum(len(b["text"]["text"]) if "text" in b else
                                              sum(len(e["text"]) for e in b["elements"]) for b in part) <= CHANGE_BUDGET
    blocks = checked(build_approval_blocks(approval, pages=PAGES))
    checked(build_decided_blocks(replace(approval, status="rejected", decided_by="U0BOB", feedback="f" * 1500),
                                 pages=PAGES))
    shown = text_of(blocks)
    if len(artifacts) > 1 or "diff" in artifacts[0]:
        assert "more file" in shown or "more artefact" in shown


def test_without_artifacts_or_pages_nothing_of_it_is_said() -> None:
    assert change_blocks(tool_call(), pages=PAGES) == []
    approval = with_artifacts({"kind": "command", "command": "make deploy", "cwd": "/srv"})
    shown = text_of(checked(build_approval_blocks(approval)))
    assert "*The change:* 1 command" in shown and "Command in /srv" in shown and "See the whole change" not in shown
