"""Approve & always allow, end to end: a real worker, real Redis, the local Slack stand-in and the `email`
team's `send_email` called by a scripted model. A rule made from a card approves that card and the next
calls it matches (the tool runs, no card, the audit names the rule, the run's thread says so), not a call
with other arguments; a rule for the whole channel needs a named admin; a rule made of values that fail the
tool's schema is refused in the form; the button is only on tool calls that could be approved; a suggested
rule's Create button opens the same form, for admins only."""

from __future__ import annotations

import json
import time
import urllib.parse
from email import message_from_bytes
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from agent_approvals.approver import canonical_json, digest_of

from bot.core.allow_rules import Condition, Match, exact_match
from bot.core.records import ApprovalRecord
from bot.devslack.blockkit import validate_view
from bot.devslack.model import DeliveryResult
from bot.devslack.server import SlackStandIn
from bot.slack.blocks.approval_card import build_approval_blocks
from bot.slack.blocks.rule_modals import build_rule_modal
from bot.slack.blocks.rules import ACTION_ALWAYS_ALLOW, ACTION_RULE_CREATE, suggestion_value
from tests.conftest import (
    ALICE,
    APPROVALS,
    BOB,
    CAROL,
    SALES,
    Worker,
    block_texts,
    find_header,
    has_buttons,
    name_admins,
    texts,
    thread_of,
)
from tests.support.hitl import (
    audit_events,
    bot,
    buttons,
    call,
    cards,
    click,
    command,
    current,
    finished,
    nth_card,
    reject,
    replay,
    start,
    text_of,
    until,
)

EMAIL = {"to": "bob@example.com", "subject": "Price change", "body": "Dear Bob,\nPrices change on May 1."}
TASK = "--team email Tell bob@example.com about the price change"
APPROVE, REJECT, REVISE = "approval_approve", "approval_reject", "approval_revise"
ENDS = ("ends_with", "@example.com")


def email(to: str) -> dict[str, str]:
    return {**EMAIL, "to": to}


def outbox(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "outbox"
    return sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns) if folder.exists() else []


def recipients(tmp_path: Path) -> list[str]:
    return sorted(str(message_from_bytes(p.read_bytes())["To"]) for p in outbox(tmp_path))


async def live_rules(worker: Worker, channel: str = SALES) -> list[Any]:
    return await worker.services.store.rules.of_channel(channel, now=time.time())


async def open_rule(slack: SlackStandIn, card: dict[str, Any], *, user: str) -> dict[str, Any]:
    """Click Approve & always allow on a card as `user`; the rule modal it opened."""
    before = {v["id"] for v in slack.open_views(user)}
    await click(slack, card, ACTION_ALWAYS_ALLOW, user=user)
    views = await slack.wait_for(lambda: [v for v in slack.open_views(user) if v["id"] not in before])
    view: dict[str, Any] = views[-1]
    assert view["view"]["callback_id"] == "rule_modal"
    assert validate_view({k: view["view"][k] for k in ("type", "title", "submit", "close", "blocks")}) is None
    return view


def argument_index(view: dict[str, Any], name: str) -> int:
    """The position of argument `name` in the modal (its condition's block is `rule_op_<n>`)."""
    for block in view["view"]["blocks"]:
        if str(block.get("block_id", "")).startswith("rule_op_") and block["label"]["text"].startswith(f"{name} ("):
            return int(block["block_id"].removeprefix("rule_op_"))
    raise AssertionError(f"no condition for {name}")


def ops_offered(view: dict[str, Any], name: str) -> list[str]:
    block_id = f"rule_op_{argument_index(view, name)}"
    block = next(b for b in view["view"]["blocks"] if b.get("block_id") == block_id)
    return [o["value"] for o in block["element"]["options"]]


def rule_form(
    view: dict[str, Any],
    *,
    scope: str | None = "run",
    match: str = "conditions",
    expiry: str = "86400",
    **conditions: tuple[str, str] | str,
) -> dict[str, dict[str, str]]:
    """What a person enters in the rule modal: scope, match, expiry and, per argument named, its condition
    (an op, or (op, value)). Arguments not named keep what the modal prefilled."""
    values = {"rule_match": {"rule_match_input": match}, "rule_expiry": {"rule_expiry_input": expiry}}
    if scope is not None:
        values["rule_scope"] = {"rule_scope_input": scope}
    for name, condition in conditions.items():
        index = argument_index(view, name)
        op, value = condition if isinstance(condition, tuple) else (condition, None)
        values[f"rule_op_{index}"] = {"rule_op_input": op}
        if value is not None:
            values[f"rule_value_{index}"] = {"rule_value_input": value}
    return values


async def submit(slack: SlackStandIn, view: dict[str, Any], *, user: str, **form: Any) -> dict[str, Any]:
    answer = await slack.submit_view(user=user, view_id=view["id"], values=rule_form(view, **form))
    assert answer.status == 200, answer.body
    assert isinstance(answer.json, dict), answer.body
    return answer.json


def pending(slack: SlackStandIn, card: dict[str, Any]) -> bool:
    return has_buttons(current(slack, card))


async def thread_text(slack: SlackStandIn, run_id: str, channel: str = SALES) -> str:
    header = await slack.wait_for(lambda: find_header(slack, channel, run_id))
    return texts(thread_of(slack, channel, header["ts"]))


async def refused_rules(worker: Worker) -> list[dict[str, str]]:
    return await audit_events(worker, "rule_refused")


# --------------------------------------------------------------------------------------------------- the modal


def tool_call(arguments: Any, schema: dict[str, Any]) -> ApprovalRecord:
    shown = json.dumps(arguments, indent=2)
    return ApprovalRecord(
        id="aaaaaaaa-1111",
        run_id="rabcdefg",
        owner="w1",
        requester=ALICE,
        origin_channel=SALES,
        card_channel=APPROVALS,
        task="Tell bob",
        proposal=shown,
        author="drafter",
        created_at=1_700_000_000.0,
        deadline=1_700_000_600.0,
        timeout_seconds=600,
        kind="tool_call",
        tool_name="bulk_tool",
        arguments=shown,
        arguments_schema=canonical_json(schema),
        digest=digest_of(arguments),
    )


def test_the_rule_modal_fits_and_offers_conditions_by_type() -> None:
    schema = {"type": "object", "properties": {f"a{n}": {"type": "integer"} for n in range(21)}}
    schema["properties"]["a0"] = {"type": "string"}
    many = {f"a{n}": n for n in range(20)} | {"a0": "x" * 2500}  # 20 arguments, one too long to match on
    view = build_rule_modal(tool_call(many, schema), metadata="m", mode="card", channel=SALES)
    assert validate_view(view) is None and len(view["blocks"]) <= 100
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert [o["value"] for o in blocks["rule_op_0"]["element"]["options"]] == ["any"]
    assert "rule_value_0" not in blocks  # too long: only "any value"
    assert [o["value"] for o in blocks["rule_op_1"]["element"]["options"]] == ["any", "equals", "one_of", "at_most"]
    assert blocks["rule_op_1"]["element"]["initial_option"]["value"] == "equals"
    assert blocks["rule_value_1"]["element"]["initial_value"] == "1"
    assert blocks["rule_expiry"]["element"]["initial_option"]["text"]["text"] == "1 day"
    for arguments in ({f"a{n}": n for n in range(21)}, [1, 2]):  # more than 20, or not an object: exact only
        view = build_rule_modal(tool_call(arguments, schema), metadata="m", mode="card", channel=SALES)
        assert validate_view(view) is None and not [b for b in view["blocks"] if "rule_op" in b.get("block_id", "")]
        match = next(b for b in view["blocks"] if b.get("block_id") == "rule_match")
        assert [o["value"] for o in match["element"]["options"]] == ["exact"]
    card = build_approval_blocks(tool_call({"a1": 1}, schema))
    assert [e["action_id"] for b in card if b["type"] == "actions" for e in b["elements"]] == [
        APPROVE,
        ACTION_ALWAYS_ALLOW,
        REJECT,
        REVISE,
    ]


# --------------------------------------------------------------------------------------------------- from a card


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_a_run_rule_from_a_card_approves_it_and_the_next_matching_call_only(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    model = replay(
        call("send_email", EMAIL, call_id="call_1"),
        "Sent to Bob.",
        call("send_email", email("carol@example.com"), call_id="call_2"),
        "Sent to Carol.",
        call("send_email", email("x@other.org"), call_id="call_3"),
        "Understood: not sent.",
    )
    async with bot(slack, redis_url, tmp_path, model) as worker:
        run_id = await start(slack, f"--mode terminate {TASK}")
        card = await nth_card(slack, 1)
        assert buttons(card) == [APPROVE, ACTION_ALWAYS_ALLOW, REJECT, REVISE]
        view = await open_rule(slack, card, user=BOB)
        shown = json.dumps(view["view"])
        assert (
            "Always allow" in shown and "bob@example.com" in shown and f"Every run in <#{SALES}> (admins only)" in shown
        )
        assert ops_offered(view, "to") == ["any", "equals", "one_of", "starts_with", "ends_with"]  # no at most on text
        assert not await live_rules(worker) and not outbox(tmp_path)  # opening the form changed nothing

        answer = await submit(slack, view, user=BOB, to=ENDS, subject="any", body="any")
        assert answer.get("response_action") == "update", answer
        result = block_texts(answer["view"])
        assert "Rule R1 created" in result and "`send_email` where to ends with" in result and "@example.com" in result
        assert "The card is approved." in result and f"run `{run_id}`" in result
        (rule,) = await live_rules(worker)
        assert (rule.id, rule.scope, rule.run, rule.created_by) == ("R1", "run", run_id, BOB)
        assert rule.match == Match("send_email", where=(("to", Condition("ends_with", "@example.com")),))
        assert 86400 - 60 < rule.expires_at - time.time() <= 86400

        await slack.wait_for(lambda: not pending(slack, card), description="the card approved")
        decided = text_of(current(slack, card))
        assert f"*Approved* by <@{BOB}>" in decided and "always allowed by rule R1" in decided

        # the next call matches: approved by the rule, no card; the one after does not: a card
        second = await nth_card(slack, 2)
        assert "x@other.org" in text_of(second) and "Tool call needs approval" in text_of(second)
        assert recipients(tmp_path) == ["bob@example.com", "carol@example.com"]
        assert len(cards(slack)) == 2
        by_rule = [e for e in await audit_events(worker, "auto_approved") if e.get("rule_id")]
        assert [(e["rule_id"], e["by"], e["tool"], e["rule_by"]) for e in by_rule] == [
            ("R1", "rule", "send_email", BOB)
        ]
        assert "auto-approved by rule R1" in await thread_text(slack, run_id)
        (rule,) = await live_rules(worker)
        assert rule.uses == 1

        await reject(slack, second, user=BOB, reason="not that domain")
        assert (await finished(worker, run_id)).status == "rejected"
        assert recipients(tmp_path) == ["bob@example.com", "carol@example.com"]
        assert not await live_rules(worker)  # a run's rule ends with the run


async def test_a_channel_rule_needs_an_admin_and_then_approves_the_next_run(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    model = replay(call("send_email", EMAIL), "Sent the email to bob@example.com.")
    async with bot(slack, redis_url, tmp_path, model) as worker:
        await name_admins(worker, CAROL)
        run_id = await start(slack, TASK)
        card = await nth_card(slack, 1)

        view = await open_rule(slack, card, user=BOB)  # bob may approve the card, but is no admin
        answer = await submit(slack, view, user=BOB, scope="channel", to=ENDS, subject="any", body="any")
        assert answer["response_action"] == "errors", answer
        assert "Only a named admin of this channel" in answer["errors"]["rule_scope"]
        assert "ADMIN_USERS" in answer["errors"]["rule_scope"]  # who names them
        assert "`" not in answer["errors"]["rule_scope"]  # (a modal's error is plain text)
        assert not await live_rules(worker) and pending(slack, card) and not outbox(tmp_path)
        (refused,) = await refused_rules(worker)
        assert refused["by"] == BOB and "named admin" in refused["reason"]
        assert slack.open_views(BOB)  # the form stays open, with what was chosen

        view = await open_rule(slack, card, user=CAROL)
        answer = await submit(slack, view, user=CAROL, scope="channel", to=ENDS, subject="any", body="any")
        assert answer["response_action"] == "update", answer
        assert f"every run in <#{SALES}>" in block_texts(answer["view"])
        (rule,) = await live_rules(worker)
        assert (rule.scope, rule.run, rule.created_by) == ("channel", "", CAROL)
        await slack.wait_for(lambda: not pending(slack, card))
        await until(lambda: len(outbox(tmp_path)) == 1, what="the first email sent")
        turn = await nth_card(slack, 2)  # the human's turn (mode always)
        await click(slack, turn, APPROVE, user=BOB)
        assert (await finished(worker, run_id)).status == "completed"

        # the next run in the channel: its call is approved by the channel rule, no tool card
        second_run = await start(slack, TASK)
        third = await nth_card(slack, 3)
        assert "Sent the email to bob@example.com." in text_of(third) and "Tool call" not in text_of(third)
        assert len(outbox(tmp_path)) == 2
        assert "auto-approved by rule R1" in await thread_text(slack, second_run)
        await click(slack, third, APPROVE, user=BOB)
        assert (await finished(worker, second_run)).status == "completed"
        (rule,) = await live_rules(worker)
        assert rule.uses == 1  # a channel rule outlives the run


async def test_a_rule_made_of_values_failing_the_schema_is_refused(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    async with bot(slack, redis_url, tmp_path, replay(call("send_email", EMAIL), "Sent.")) as worker:
        run_id = await start(slack, TASK)
        card = await nth_card(slack, 1)
        view = await open_rule(slack, card, user=BOB)

        answer = await submit(slack, view, user=BOB, to=("equals", "not-an-email"), subject="any", body="any")
        assert answer["response_action"] == "errors", answer
        error = answer["errors"][f"rule_value_{argument_index(view, 'to')}"]
        assert "fails the argument's schema" in error and "not-an-email" in error and "Nothing changed" in error
        assert "fails the argument's schema" in (await refused_rules(worker))[-1]["reason"]

        to = argument_index(view, "to")  # "at most" is not offered on text: a client sending it all the same
        state = {
            "rule_scope": {"rule_scope_input": {"type": "radio_buttons", "selected_option": {"value": "run"}}},
            "rule_match": {"rule_match_input": {"type": "radio_buttons", "selected_option": {"value": "conditions"}}},
            "rule_expiry": {"rule_expiry_input": {"type": "static_select", "selected_option": {"value": "3600"}}},
            f"rule_op_{to}": {"rule_op_input": {"type": "static_select", "selected_option": {"value": "at_most"}}},
            f"rule_value_{to}": {"rule_value_input": {"type": "plain_text_input", "value": "5"}},
        }
        metadata = view["view"]["private_metadata"]
        answer = await forged_submission(slack, worker, user=BOB, metadata=metadata, state=state)
        assert answer["response_action"] == "errors"
        assert "at most needs a number argument" in answer["errors"][f"rule_value_{to}"]

        answer = await submit(slack, view, user=BOB, expiry="86400", to=ENDS, subject=("one_of", ""), body="any")
        assert "needs at least one value" in answer["errors"][f"rule_value_{argument_index(view, 'subject')}"]
        assert not await live_rules(worker) and pending(slack, card) and not outbox(tmp_path)

        # what the form cannot even express is refused by the rule book all the same
        approval = (await worker.services.store.approvals.of_run(run_id))[0]
        rules = worker.services.rules
        for match, why in (
            (Match("send_email", where=(("cc", Condition("equals", "a@example.com")),)), "cc: send_email has no such"),
            (Match("send_email", where=(("to", Condition("at_most", 3)),)), "to: at most needs a number argument"),
            (exact_match("send_email", email("bob at example")), "the arguments fail the schema of send_email"),
            (exact_match("send_email", email("other@example.com")), "does not match the call on this card"),
        ):
            made = await rules.from_card(BOB, approval, None, scope="run", match=match, expires_in=3600)
            assert made.rule is None and any(why in p for p in made.problems), (why, made)
        made = await rules.from_card(
            BOB, approval, None, scope="run", match=exact_match("send_email", EMAIL), expires_in=60
        )
        assert made.rule is None and "1 hour to 30 days" in made.message
        assert not await live_rules(worker) and pending(slack, card)
        assert len(await refused_rules(worker)) == 7  # each refusal audited


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_the_button_only_on_tool_calls_that_may_be_approved_and_refused_clicks(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    bad = {"to": "bob at example dot com", "subject": "Hi", "body": "Hello"}
    async with bot(slack, redis_url, tmp_path, replay(call("send_email", bad), "Fixed.")):
        await start(slack, TASK, user=CAROL)  # (each person may have 3 active runs)
        card = await nth_card(slack, 1)
        assert buttons(card) == [REJECT, REVISE]  # arguments failing the schema: neither Approve
    async with bot(slack, redis_url, tmp_path, replay("Draft v1: Dear vendor")):
        await start(slack, "Draft a note to the vendor", user=CAROL)
        card = await nth_card(slack, 2)
        assert "Draft v1" in text_of(card) and buttons(card) == [APPROVE, REJECT, REVISE]
    code = "Here:\n```python\nprint('hi')\n```"
    async with bot(slack, redis_url, tmp_path, replay(code, "done"), ENABLE_CODE_EXECUTION="true"):
        await start(slack, "--team code Say hi", user=BOB)
        card = await nth_card(slack, 3)
        assert "Code needs approval" in text_of(card) and buttons(card) == [APPROVE, REJECT, REVISE]
    async with bot(slack, redis_url, tmp_path, replay(call("send_email", EMAIL), "Sent.")) as worker:
        await start(slack, TASK)
        card = await nth_card(slack, 4)
        assert buttons(card) == [APPROVE, ACTION_ALWAYS_ALLOW, REJECT, REVISE]
        await click(slack, card, ACTION_ALWAYS_ALLOW, user=ALICE)  # alice started the run: no self-approval
        refusal = await slack.wait_for(
            lambda: [e for e in slack.ephemerals(ALICE) if "You started this run" in e["text"]]
        )
        assert refusal[-1]["channel"] == APPROVALS and not slack.open_views(ALICE)
        refused = [e for e in await audit_events(worker, "refused") if e.get("by") == ALICE]
        assert refused, await audit_events(worker, "refused")
        other = cards(slack)[0]["blocks"][-1]["elements"][0]["value"]  # another card's approval
        result = await slack.click(
            user=BOB, channel=APPROVALS, ts=card["ts"], action_id=ACTION_ALWAYS_ALLOW, value=other
        )
        assert result.status == 200
        await slack.wait_for(lambda: [e for e in slack.ephemerals(BOB) if "does not belong to this card" in e["text"]])
        assert not slack.open_views(BOB) and pending(slack, card)


async def test_altered_metadata_is_refused_and_changes_nothing(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    async with bot(slack, redis_url, tmp_path, replay(call("send_email", EMAIL), "Sent.")) as worker:
        await start(slack, TASK)
        card = await nth_card(slack, 1)
        view = await open_rule(slack, card, user=BOB)
        metadata = view["view"]["private_metadata"]
        assert metadata.startswith("card|")
        state = {
            "rule_scope": {"rule_scope_input": {"type": "radio_buttons", "selected_option": {"value": "channel"}}},
            "rule_match": {"rule_match_input": {"type": "radio_buttons", "selected_option": {"value": "exact"}}},
            "rule_expiry": {"rule_expiry_input": {"type": "static_select", "selected_option": {"value": "3600"}}},
        }
        for forged in (
            metadata.replace("card|", "suggestion|", 1),  # another mode: another key
            metadata.removeprefix("card|"),  # a Reject or Revise form's metadata
            metadata[:-4] + "0000",
        ):
            answer = await forged_submission(slack, worker, user=BOB, metadata=forged, state=state)
            assert answer["response_action"] == "errors" and "does not belong" in json.dumps(answer["errors"])
        answer = await forged_submission(slack, worker, user=CAROL, metadata=metadata, state=state)  # not hers
        assert answer["response_action"] == "errors"
        refused = [e for e in await audit_events(worker, "refused") if "rule form" in e.get("reason", "")]
        assert len(refused) == 4
        assert not await live_rules(worker) and pending(slack, card)


async def forged_submission(
    slack: SlackStandIn, worker: Worker, *, user: str, metadata: str, state: dict[str, Any]
) -> dict[str, Any]:
    """A signed view_submission of the rule modal as a client could forge it (edited metadata, an option the
    form does not offer): what Slack itself never sends."""
    payload = {
        "type": "view_submission",
        "user": {"id": user, "username": "x", "name": "x", "team_id": "T0DEV"},
        "team": {"id": "T0DEV", "domain": "dev"},
        "api_app_id": "A0DEV",
        "trigger_id": "1.2.3",
        "view": {
            "id": "V0FORGED",
            "type": "modal",
            "callback_id": "rule_modal",
            "private_metadata": metadata,
            "state": {"values": state},
        },
    }
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    async with aiohttp.ClientSession() as http:
        async with http.post(worker.url + "/slack/events", data=body, headers=slack.sign(body)) as response:
            assert response.status == 200
            answer = await response.json()
    assert isinstance(answer, dict)
    return answer


# --------------------------------------------------------------------------------------------------- from a suggestion


async def suggest(worker: Worker, slack: SlackStandIn, *, user: str, example: str, match: Match) -> dict[str, Any]:
    """The suggestion's reply as `/agent rules suggest` shows it (ephemeral, with its Create button), for `user`."""
    value = suggestion_value(example, match)
    assert value is not None
    button = {"type": "button", "text": {"type": "plain_text", "text": "Create rule…"}, "action_id": ACTION_RULE_CREATE}
    blocks = [{"type": "actions", "block_id": "suggestion_1", "elements": [{**button, "value": value}]}]
    before = len(slack.ephemerals(user))
    await worker.services.slack.chat_postEphemeral(channel=SALES, user=user, text="Suggested rules", blocks=blocks)
    posted: dict[str, Any] = slack.ephemerals(user)[before]
    return posted


async def create_from(slack: SlackStandIn, suggestion: dict[str, Any], *, user: str) -> DeliveryResult:
    result = await slack.click(user=user, channel=SALES, ts=suggestion["ts"], action_id=ACTION_RULE_CREATE)
    assert result.status == 200
    return result


async def test_a_suggested_rule_is_created_from_its_button_by_an_admin_only(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    model = replay(call("send_email", EMAIL), "Sent the email to bob@example.com.")
    async with bot(slack, redis_url, tmp_path, model) as worker:
        await name_admins(worker, CAROL)
        run_id = await start(slack, TASK)
        card = await nth_card(slack, 1)
        await click(slack, card, APPROVE, user=BOB)
        await click(slack, await nth_card(slack, 2), APPROVE, user=BOB)
        assert (await finished(worker, run_id)).status == "completed"
        (example,) = [a for a in await worker.services.store.approvals.of_run(run_id) if a.kind == "tool_call"]
        match = Match("send_email", where=(("to", Condition("ends_with", "@example.com")),))

        # bob is no admin: refused at the click, no form
        await create_from(slack, await suggest(worker, slack, user=BOB, example=example.id, match=match), user=BOB)
        await slack.wait_for(lambda: [e for e in slack.ephemerals(BOB) if "Only a named admin" in e["text"]])
        assert not slack.open_views(BOB) and (await refused_rules(worker))[-1]["by"] == BOB

        # an example that is gone: said why
        gone = await suggest(worker, slack, user=CAROL, example="zzzzzzzz-0000", match=match)
        await create_from(slack, gone, user=CAROL)
        await slack.wait_for(lambda: [e for e in slack.ephemerals(CAROL) if "no longer kept" in e["text"]])
        assert not slack.open_views(CAROL)

        # carol, an admin: the form, prefilled with the suggestion, for the whole channel
        await create_from(slack, await suggest(worker, slack, user=CAROL, example=example.id, match=match), user=CAROL)
        view = await slack.wait_for(lambda: slack.open_views(CAROL) and slack.open_views(CAROL)[-1])
        shown = view["view"]
        assert shown["callback_id"] == "rule_modal" and shown["submit"]["text"] == "Create rule"
        assert "rule_scope" not in json.dumps(shown) and "admins only" in block_texts(shown)
        by_id = {b.get("block_id"): b for b in shown["blocks"]}
        to = argument_index(view, "to")
        assert by_id[f"rule_op_{to}"]["element"]["initial_option"]["value"] == "ends_with"
        assert by_id[f"rule_value_{to}"]["element"]["initial_value"] == "@example.com"
        assert by_id[f"rule_op_{argument_index(view, 'subject')}"]["element"]["initial_option"]["value"] == "any"
        assert by_id["rule_match"]["element"]["initial_option"]["value"] == "conditions"

        answer = await submit(slack, view, user=CAROL, scope=None)
        assert answer["response_action"] == "update", answer
        assert "Rule R1 created" in block_texts(answer["view"])
        (rule,) = await live_rules(worker)
        assert (rule.scope, rule.created_by, rule.match, rule.approval) == ("channel", CAROL, match, "")

        # a form opened by an admin who is no longer one when submitting: refused then too
        await create_from(slack, await suggest(worker, slack, user=CAROL, example=example.id, match=match), user=CAROL)
        again = await slack.wait_for(
            lambda: [
                v for v in slack.open_views(CAROL) if v["id"] != view["id"] and v["view"]["callback_id"] == "rule_modal"
            ]
        )
        assert f"now <@{BOB}>" in await command(slack, "config admins @bob", user=CAROL)
        answer = await submit(slack, again[-1], user=CAROL, scope=None, expiry="3600")
        assert answer["response_action"] == "errors" and "Only a named admin" in answer["errors"]["rule_match"]
        assert len(await live_rules(worker)) == 1 and (await refused_rules(worker))[-1]["by"] == CAROL

        # the rule approves the next run's call: no tool card
        second = await start(slack, TASK)
        third = await nth_card(slack, 3)
        assert "Tool call" not in text_of(third) and len(outbox(tmp_path)) == 2
        assert "auto-approved by rule R1" in await thread_text(slack, second)
