"""`/agent rules`, `/agent rules revoke <id>` and `/agent rules suggest [N]` (#16), end to end: a real worker
(the Bolt app over signed HTTP), a real Redis, the local Slack stand-in, and the `email` team driven by a
scripted model making real `send_email` calls that people approve or reject by clicking their cards."""

from __future__ import annotations

import json
import secrets
import time
import urllib.parse
from email import message_from_bytes
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.core.allow_rules import Condition, Match, Rule
from bot.devslack.blockkit import validate_blocks
from bot.devslack.server import SlackStandIn
from bot.report import compute, mode_of
from bot.slack.blocks.rules import ACTION_RULE_CREATE, parse_suggestion_value
from tests.conftest import ALICE, BOB, CAROL, SALES, Worker, block_texts, find_header, thread_of
from tests.support.hitl import (
    audit_events,
    bot,
    call,
    cards,
    click,
    command,
    finished,
    nth_card,
    reject,
    replay,
    start,
    text_of,
    until,
)

TASK = "--team email Tell our customers about the price change"
EMAIL = {"to": "bob@example.com", "subject": "Price change", "body": "Dear Bob,\nPrices change on May 1."}
DAY = 86400
TOOL_CARD = "Tool call needs approval"
LIVE_MARKUP = ("<@", "<!channel", "<!here", "<#", "<http")


def outbox(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "outbox"
    return sorted(folder.glob("*.eml")) if folder.exists() else []


def recipients(tmp_path: Path) -> list[str]:
    return sorted(str(message_from_bytes(p.read_bytes())["To"]) for p in outbox(tmp_path))


async def reply(slack: SlackStandIn, text: str, *, user: str = ALICE, channel: str = SALES) -> tuple[str, str]:
    """The ephemeral answer to `/agent <text>`: its text, and all the text of its blocks (checked valid
    Block Kit for a message: at most 50 blocks, 12,000 characters)."""
    result = await slack.send_command(user=user, channel=channel, text=text)
    assert result.status == 200
    body = result.json if isinstance(result.json, dict) else {"text": result.body}
    blocks = body.get("blocks") or []
    assert validate_blocks(blocks) is None, validate_blocks(blocks)
    return str(body.get("text", "")), block_texts({"blocks": blocks})


async def reply_blocks(slack: SlackStandIn, text: str, *, user: str = ALICE) -> list[dict[str, Any]]:
    result = await slack.send_command(user=user, channel=SALES, text=text)
    assert result.status == 200 and isinstance(result.json, dict)
    blocks = list(result.json.get("blocks") or [])
    assert validate_blocks(blocks) is None
    return blocks


def rule(*, by: str, match: Match, scope: str = "channel", run: str = "", days: float = 1) -> Rule:
    now = time.time()
    return Rule(
        id="",
        scope="run" if scope == "run" else "channel",
        channel=SALES,
        run=run,
        match=match,
        created_by=by,
        created_at=now,
        expires_at=now + days * DAY,
    )


TO_EXAMPLE = Match(tool="send_email", where=(("to", Condition("ends_with", "@example.com")),))


def command_body(text: str, *, trigger_id: str, user: str = ALICE) -> bytes:
    """A slash command as Slack posts it (to deliver the very same request twice)."""
    form = {
        "token": "unused",
        "team_id": "T0DEV",
        "channel_id": SALES,
        "user_id": user,
        "command": "/agent",
        "text": text,
        "response_url": "http://127.0.0.1:9/none",
        "trigger_id": trigger_id,
    }
    return urllib.parse.urlencode(form).encode()


async def post(http: aiohttp.ClientSession, worker: Worker, body: bytes, headers: dict[str, str]) -> str:
    async with http.post(worker.url + "/slack/events", data=body, headers=headers) as response:
        assert response.status == 200
        return await response.text()  # an ack of text alone comes back as plain text


# ------------------------------------------------------------------------------------------ list and revoke


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_rules_are_listed_with_their_uses_and_revoked_by_their_creator_or_an_admin(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    model = replay(call("send_email", EMAIL), "Sent the email to bob@example.com.")
    async with bot(slack, redis_url, tmp_path, model, ADMIN_USERS=BOB) as worker:
        store = worker.services.store
        text, blocks = await reply(slack, "rules", user=CAROL)
        assert "No live rules in <#C0SALES>" in text and "*Approve &amp; always allow*" in text and not blocks

        r1 = await store.rules.create(rule(by=ALICE, match=TO_EXAMPLE))
        other = {**EMAIL, "to": "carol@example.org"}
        r2 = await store.rules.create(
            rule(by=ALICE, match=Match("send_email", where=(("to", Condition("equals", other["to"])),)))
        )
        r3 = await store.rules.create(rule(by=ALICE, match=TO_EXAMPLE, scope="run", run="rzzzzzzz", days=0.5))
        assert (r1, r2, r3) == ("R1", "R2", "R3")

        # R1 approves the call at once: the email goes out, no tool card, the thread names the rule
        run_id = await start(slack, TASK)
        (sent,) = await until(lambda: outbox(tmp_path), what="the email sent by the rule")
        assert str(message_from_bytes(sent.read_bytes())["To"]) == "bob@example.com"
        card = await nth_card(slack, 1)
        assert TOOL_CARD not in text_of(card) and "Sent the email to bob@example.com." in text_of(card)
        header = await slack.wait_for(lambda: find_header(slack, SALES, run_id))
        await slack.wait_for(
            lambda: any(
                "auto-approved by rule R1" in block_texts(m) + str(m.get("text"))
                for m in thread_of(slack, SALES, header["ts"])
            ),
            description="the rule's line in the run's thread",
        )
        await click(slack, card, "approval_approve", user=BOB)
        assert (await finished(worker, run_id)).status == "completed"
        (used,) = await audit_events(worker, "auto_approved")
        assert (used["rule_id"], used["rule_by"], used["run"], used["tool"]) == ("R1", ALICE, run_id, "send_email")

        # the list: id, scope, who and when, the match, expiry, uses (anyone in the channel may see it)
        text, shown = await reply(slack, "rules", user=CAROL)
        assert text == "3 live rules in <#C0SALES>."
        lines = {line.split("*")[1]: line for line in shown.split("\n• ")[1:]}
        assert sorted(lines) == ["R1", "R2", "R3"]
        assert "this channel · by <@U0ALICE> <!date^" in lines["R1"] and "· 1 call approved" in lines["R1"]
        assert '`send_email` where to ends with "@example.com"' in lines["R1"]
        assert "0 calls approved" in lines["R2"] and '`send_email` where to equals "carol@example.org"' in lines["R2"]
        assert "run `rzzzzzzz`" in lines["R3"]
        expiry = (await store.rules.get(SALES, "R3")).expires_at  # type: ignore[union-attr]
        assert f"expires <!date^{int(expiry)}^" in lines["R3"]

        # someone else may not revoke it: refused, audited, nothing changed
        before = len(await store.audit.entries())
        text, _ = await reply(slack, "rules revoke R1", user=CAROL)
        assert text == "Only this channel's admins or whoever created rule R1 may revoke it. Nothing changed."
        (refused,) = await audit_events(worker, "rule_refused")
        assert (refused["by"], refused["rule_id"], refused["origin_channel"]) == (CAROL, "R1", SALES)
        assert len(await store.audit.entries()) == before + 1
        assert [r.id for r in await store.rules.of_channel(SALES, now=time.time())] == ["R1", "R2", "R3"]

        # bad or unknown ids: the valid forms, nothing changed
        for bad in ("rules revoke 1", "rules revoke R0", "rules revoke", "rules revoke R1 R2"):
            text, _ = await reply(slack, bad, user=ALICE)
            assert "Usage: `/agent rules`" in text and "`/agent rules revoke <rule id>`" in text, text
            assert text.endswith("Nothing changed."), text
        text, _ = await reply(slack, "rules revoke R99", user=ALICE)
        assert text == "There is no live rule R99 in this channel. Nothing changed."
        assert len(await store.audit.entries()) == before + 1

        # its creator may (R2), an admin may (R1, created by alice; bob is in ADMIN_USERS)
        text, _ = await reply(slack, "rules revoke r2", user=ALICE)
        assert text == "Rule R2 revoked: from now on its calls get a card again."
        text, _ = await reply(slack, "rules revoke R1", user=BOB)
        assert text == "Rule R1 revoked: from now on its calls get a card again."
        revoked = {e["rule_id"]: e["by"] for e in await audit_events(worker, "rule_revoked")}
        assert revoked == {"R2": ALICE, "R1": BOB}

        # the same command delivered twice (a replay): done once
        body = command_body("rules revoke R3", trigger_id=f"4713.{int(time.time())}.{secrets.token_hex(16)}")
        async with aiohttp.ClientSession() as http:
            assert await post(http, worker, body, slack.sign(body)) == (
                "Rule R3 revoked: from now on its calls get a card again."
            )
            again = await post(http, worker, body, slack.sign(body))
        assert again == "Already received: this command was answered. Nothing was done again."
        assert [e["rule_id"] for e in await audit_events(worker, "rule_revoked")] == ["R2", "R1", "R3"]
        text, _ = await reply(slack, "rules", user=ALICE)
        assert text.startswith("No live rules in <#C0SALES>")

        # revoked: the same call gets a card again
        second = await start(slack, TASK)
        tool_card = await nth_card(slack, 2)
        assert TOOL_CARD in text_of(tool_card) and '*to*\nbob@example.com' in text_of(tool_card)
        assert len(outbox(tmp_path)) == 1
        await click(slack, tool_card, "approval_approve", user=BOB)
        await until(lambda: len(outbox(tmp_path)) == 2, what="the second email, approved by a person")
        await click(slack, await nth_card(slack, 3), "approval_approve", user=BOB)
        assert (await finished(worker, second)).status == "completed"
        assert len(await audit_events(worker, "auto_approved")) == 1

        # the report counts the rule's approval as the rule's, with who created it
        entries = await store.audit.entries()
        figures = compute(entries, now=time.time(), since=time.time() - DAY)
        assert [(r.rule_id, r.uses, r.created_by) for r in figures.automatic.rules] == [("R1", 1, ALICE)]
        assert (figures.outcomes["rule_approved"], figures.outcomes["auto_approved"]) == (1, 0)
        assert mode_of(next(e for e in entries if e["event"] == "auto_approved")) == "rule"


async def test_a_long_list_stays_within_one_message(slack: SlackStandIn, worker: Worker) -> None:
    """100 live rules (a channel's most), each with a long match: one valid message, the rest counted."""
    store = worker.services.store
    long_value = "<@U0BOB> <!channel> " + "x" * 1500
    for n in range(100):
        match = Match("send_email", where=(("subject", Condition("equals", f"{n} {long_value}")),))
        assert await store.rules.create(rule(by=ALICE, match=match)) == f"R{n + 1}"
    blocks = await reply_blocks(slack, "rules")
    assert len(blocks) <= 50
    shown = block_texts({"blocks": blocks})
    assert len(shown) <= 12000 and "*R1*" in shown
    listed = shown.count("\n• ") + shown.startswith("• ")
    more = blocks[-1]["elements"][0]["text"]
    assert more.startswith("…and ") and f"…and {100 - listed} more rules not shown" in more, more
    assert 50 <= listed < 100  # compact lines: dates as UTC text, matches cut short
    assert "<!date^" not in shown and "… (cut)" in shown and "expires 20" in shown
    assert "<@U0BOB>" not in shown and "<!channel>" not in shown and "&lt;@U0BOB&gt;" in shown


# ------------------------------------------------------------------------------------------ suggestions

A = {"to": "a@example.com", "subject": "Prices", "body": "New prices from May 1."}
B = {**A, "to": "b@example.com"}
EVIL = {**A, "to": "c@evil.org"}


async def decide_tool_cards(slack: SlackStandIn, outcomes: list[str], *, first: int = 1) -> None:
    """Decide the tool cards as they come, one by one: approve, or reject with a reason."""
    for n, outcome in enumerate(outcomes, start=first):
        card = await nth_card(slack, n)
        assert TOOL_CARD in text_of(card), text_of(card)
        if outcome == "approve":
            await click(slack, card, "approval_approve", user=BOB)
        else:
            assert (await reject(slack, card, user=BOB, reason="not to them")).status == 200


def independent_replay(entries: list[dict[str, str]], match: Match) -> tuple[int, int, int, int]:
    """(approved hits, approved total, refused hits, refused total) counted from the audit log by hand: each
    `send_email` request's arguments, and the person's decision on it; a hit meets every condition as its
    words say (equals: the same value; ends with: the text ends so)."""
    asked = {
        e["approval"]: json.loads(e["arguments"])
        for e in entries
        if e["event"] == "requested" and e.get("tool") == "send_email"
    }
    counts = [0, 0, 0, 0]
    for entry in entries:
        if entry["event"] != "decision" or entry["approval"] not in asked or entry["by"] in ("", "timeout", "system"):
            continue
        arguments = asked[entry["approval"]]
        hit = True
        for name, condition in match.where:
            value = arguments.get(name)
            if condition.op == "equals":
                hit = hit and value == condition.value
            elif condition.op == "ends_with":
                hit = hit and isinstance(value, str) and value.endswith(condition.value)
            else:
                raise AssertionError(f"unexpected condition {condition}")
        approved = entry["outcome"] == "approved"
        counts[0 if approved else 2] += hit
        counts[1 if approved else 3] += 1
    return counts[0], counts[1], counts[2], counts[3]


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_suggestions_replay_the_decisions_people_made(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    model = replay(
        call("send_email", A, call_id="c1"),
        "Sent to a.",
        call("send_email", B, call_id="c2"),
        "Sent to b.",
        call("send_email", A, call_id="c3"),
        "Sent to a again.",
        call("send_email", B, call_id="c4"),
        "Sent to b again.",
        call("send_email", EVIL, call_id="c5"),
        "Not sent.",
    )
    async with bot(slack, redis_url, tmp_path, model) as worker:
        text, _ = await reply(slack, "rules suggest")
        assert text.startswith("No rule to suggest for <#C0SALES>: in the last 30 days no tool call here was approved")

        # terminate mode: the drafter goes on by itself; each send_email is a card, decided by bob
        run_id = await start(slack, "--mode terminate " + TASK)
        await decide_tool_cards(slack, ["approve", "approve", "approve", "approve", "reject"])
        run = await finished(worker, run_id)
        assert run.status == "rejected" and len(cards(slack)) == 5
        assert recipients(tmp_path) == sorted(["a@example.com", "b@example.com"] * 2)

        blocks = await reply_blocks(slack, "rules suggest")
        suggestions = [b for b in blocks if b.get("block_id", "").startswith("rule_suggestion_")]
        assert len(suggestions) == 1, block_texts({"blocks": blocks})
        (suggestion,) = suggestions
        button = suggestion["accessory"]
        assert button["action_id"] == ACTION_RULE_CREATE == "rule_create" and button["text"]["text"] == "Create rule…"
        parsed = parse_suggestion_value(button["value"])
        assert parsed is not None
        example, match = parsed
        # every approved call shares subject and body, and the recipients all end with @example.com
        assert match == Match(
            "send_email",
            where=(
                ("body", Condition("equals", A["body"])),
                ("subject", Condition("equals", "Prices")),
                ("to", Condition("ends_with", "@example.com")),
            ),
        )
        entries = await worker.services.store.audit.entries()
        hits, approved, refused_hits, refused = independent_replay(entries, match)
        assert (hits, approved, refused_hits, refused) == (4, 4, 0, 1)
        shown = suggestion["text"]["text"]
        assert (
            f"would have auto-approved {hits} of {approved} approved calls, {refused_hits} of {refused}"
            " rejected or revised" in shown
        )
        assert '`send_email` where body equals "New prices from May 1." and subject equals "Prices"' in shown
        assert 'to ends with "@example.com"' in shown
        approved_ids = {e["approval"] for e in entries if e["event"] == "decision" and e["outcome"] == "approved"}
        assert example in approved_ids  # the latest approved call it covers (its approval holds the schema)
        everything = block_texts({"blocks": blocks})
        assert "needs a named admin" in everything and "You are not a named admin here" in everything

        # N: 4 approvals are enough for 4, not for 5; a bad N is refused with the valid forms
        assert len([b for b in await reply_blocks(slack, "rules suggest 4") if "accessory" in b]) == 1
        text, blocks_text = await reply(slack, "rules suggest 5")
        assert "no tool call here was approved 5 times or more" in text and not blocks_text
        for bad in ("rules suggest 0", "rules suggest 101", "rules suggest many", "rules suggest 3 4"):
            text, _ = await reply(slack, bad)
            assert "a number from 1 to 100" in text and "`/agent rules suggest [N]`" in text, text


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_a_rejected_call_that_any_rule_would_match_gives_no_suggestion(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    """The same email approved 3 times and rejected once: the exact rule and every generalisation would
    have approved the rejected call too, so nothing is suggested, even for N = 1."""
    model = replay(
        call("send_email", A, call_id="c1"),
        "Sent.",
        call("send_email", A, call_id="c2"),
        "Sent again.",
        call("send_email", A, call_id="c3"),
        "Sent a third time.",
        call("send_email", A, call_id="c4"),
        "Not sent.",
    )
    async with bot(slack, redis_url, tmp_path, model, ADMIN_USERS=ALICE) as worker:
        run_id = await start(slack, "--mode terminate " + TASK)
        await decide_tool_cards(slack, ["approve", "approve", "approve", "reject"])
        assert (await finished(worker, run_id)).status == "rejected"
        entries = await worker.services.store.audit.entries()
        exact = Match("send_email", where=tuple((k, Condition("equals", v)) for k, v in sorted(A.items())))
        assert independent_replay(entries, exact) == (3, 3, 1, 1)
        for form in ("rules suggest", "rules suggest 1"):
            text, blocks_text = await reply(slack, form)
            assert text.startswith("No rule to suggest for <#C0SALES>") and not blocks_text, text
            assert "without a rejected or revised call that the same rule would also have approved" in text


# ------------------------------------------------------------------------------------------ forms


async def test_bad_rules_forms_are_refused_with_the_valid_forms_and_help_lists_them(
    slack: SlackStandIn, worker: Worker
) -> None:
    store = worker.services.store
    for typed, expected in (
        ("rules frobnicate", "Unknown command `rules frobnicate`."),
        ("rules sugest", "Did you mean `/agent rules suggest`?"),
        ("rules revoke @bob", "Bad rule id `@bob`"),
        ("rules suggest @channel", "Bad N `@channel`"),
        ("rules <script> & @here", "Unknown command `rules &lt;script&gt; &amp; @here`"),
    ):
        text, blocks = await reply(slack, typed)
        assert expected in text, (typed, text)
        assert "`/agent rules revoke <rule id>`" in text and "`/agent rules suggest [N]`" in text, text
        assert not any(live in text for live in LIVE_MARKUP), text
        assert not blocks
    assert await store.audit.entries() == []  # nothing done, nothing refused
    assert not [k for k in await store.redis.keys("*") if "rule" in str(k)]
    help_text = await command(slack, "help rules")
    for form in ("`/agent rules`", "`/agent rules revoke <rule id>`", "`/agent rules suggest [N]`"):
        assert form in help_text, form
    assert "*Approve &amp; always allow*" in help_text  # (Slack shows "&")
