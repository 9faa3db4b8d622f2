"""The Teams approval card (bot/msteams/cards.py): every card the bot builds is valid by the Adaptive Cards 1.5 schema
(vendored: tests/msteams/schema/) and, under Node, parsed and rendered by Microsoft's `adaptivecards` renderer with no
warning (tests/msteams/node/render.mjs, Markdown read as Teams reads it); approvers see the buttons, everyone else none;
untrusted text is never live markup; no secret is on a card built from a record as the chain stores it; the refresh
names at most 60 users; huge arguments stay within Teams' 28 KB."""

from __future__ import annotations

import html
import json
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from agent_approvals.approver import encode_revision

from bot.core.records import ApprovalRecord
from bot.msteams.cards import (
    INPUT_ARGUMENTS,
    INPUT_REASON,
    MAX_CARD_BYTES,
    SAVE_APPROVE_WORDS,
    TOO_MANY_FIELDS,
    VERB_APPROVE,
    VERB_REFRESH,
    VERB_REJECT,
    VERB_REVISE,
    VERB_SAVE_APPROVE,
    approval_card,
    card_bytes,
    plain,
    reminder_text,
    title,
)
from bot.msteams.field_inputs import field_id
from bot.redaction.hiding import Hiding
from bot.store import Store
from tests.support.leaks import leaks
from tests.support.records import approval as new_approval
from tests.support.typescript import node

HERE = Path(__file__).parent
SCHEMA = json.loads((HERE / "schema" / "adaptive-card.json").read_text())
RENDER = HERE / "node" / "render.mjs"
TEAMS_ONLY = "teams:0b7a9c1e-1111-2222-3333-444455556666"
NAMES = {"U0ALICE": "Alice Example", "U0ANA": "Ana", "U0BOB": "Bob", TEAMS_ONLY: "Tea Person"}
ARGUMENTS = {"to": "cfo@example.com", "amount": 1250, "note": "Refund for order #4411", "items": [1, 2]}
MARKDOWN_TITLE = "**Pay** [now](https://evil.example/x) <b>hi</b> _me_ # Head\n- list\n    code"
ARTIFACTS = json.dumps([{"kind": "file", "path": "app.py", "before": "a\nb\n", "after": "a\nB\nc\n"},
                        {"kind": "command", "command": "make deploy"}])
KINDS = {"to": "cfo@example.com", "amount": 1250, "rate": 2.5, "urgent": True, "tier": "gold",
         "items": [{"sku": "A1", "n": 2}], "body": "Line one\nline two", "token": "[hidden: api key]"}
KINDS_SCHEMA = {"type": "object", "properties": {"amount": {"type": "integer"}, "rate": {"type": "number"},
                                                 "urgent": {"type": "boolean"},
                                                 "tier": {"type": "string", "enum": ["gold", "silver"]}}}
REFRESH_USERS = [f"29:user-{n}" for n in range(75)]
READING = "The triage model (llama3.1) escalated: high risk. **Approve** [now](https://evil.example) <b>x</b>"
MODEL_APPROVED = "Approved by the triage model (low risk: A small refund.)"


def call(**changes: Any) -> ApprovalRecord:
    """A pending tool call, as stored."""
    made = replace(new_approval("0c6d1f2e-aaaa-bbbb-cccc-000000000001"), kind="tool_call", tool_name="send_refund",
                   arguments=json.dumps(ARGUMENTS), task="Refund the customer", approvers=("U0ANA", "U0BOB"))
    return replace(made, **changes)


def decided(status: str, **changes: Any) -> ApprovalRecord:
    return call(status=status, decided_by="U0ANA", decided_at=time.time() + 42, **changes)


HUGE = {"blob": "{[*_`]}\u00e9\u4e2d" * 20_000, **{f"k{n}": "x" * 900 for n in range(80)}}

# name -> (the approval, its card's keyword arguments)
CASES: dict[str, tuple[ApprovalRecord, dict[str, Any]]] = {
    "pending, the approver's": (call(), {"actions": True, "refresh_users": ["29:ana"]}),
    "pending, read-only": (call(), {"actions": False, "refresh_users": ["29:ana"]}),
    "quorum with a vote": (call(required_approvals=2, votes="U0ANA"), {"actions": True}),
    "quorum, a delegate's vote": (call(required_approvals=3, votes="U0ANA,U0BOB", proxies=("U0BOB:U0ALICE",)),
                                  {"actions": False}),
    "approved": (decided("approved"), {"actions": True}),
    "approved by a quorum": (decided("approved", required_approvals=2, votes="U0ANA,U0BOB"), {"actions": False}),
    "rejected with a reason": (decided("rejected", feedback="Not **this** month"), {"actions": False}),
    "revised: arguments edited": (decided("revised", feedback=encode_revision({"amount": 100}, note="less")),
                                  {"actions": False}),
    "revised: feedback": (decided("revised", feedback="ask the customer first"), {"actions": False}),
    "timed out": (call(status="timed_out", timeout_outcome="approve"), {"actions": False}),
    "cancelled": (call(status="cancelled", feedback="the run stopped"), {"actions": False}),
    "with artefacts": (call(artifacts=ARTIFACTS), {"actions": True}),
    "with a notice": (call(), {"actions": True, "notice": "Already decided by *Ana*"}),
    "61+ refresh users": (call(), {"actions": False, "refresh_users": REFRESH_USERS}),
    "huge arguments": (call(arguments=json.dumps(HUGE)), {"actions": True}),
    "markdown title": (call(task=MARKDOWN_TITLE), {"actions": True, "details_url": "https://bot.example/approvals/x"}),
    "arguments failing the schema": (call(schema_error="amount: must be < 1000"), {"actions": True}),
    "fixed arguments": (call(fixed_arguments=1), {"actions": True}),
    "a program's ask": (call(asked_by="billing-agent", sponsor="U0ALICE", requester=TEAMS_ONLY), {"actions": True}),
    "step-up, attestation, details": (call(step_up="policy", attest=("policy:refunds", "channel:C0SALES"),
                                            require_details="policy"), {"actions": True}),
    "fields of every kind": (call(arguments=json.dumps(KINDS), arguments_schema=json.dumps(KINDS_SCHEMA),
                                  hidden=json.dumps([{"path": "token", "shown": "api key"}])), {"actions": True}),
    "too many arguments for fields": (call(arguments=json.dumps({f"k{n}": n for n in range(30)})), {"actions": True}),
    "the triage model's reading": (call(triage=READING), {"actions": True}),
    "approved by the triage model": (call(status="approved", decided_by="model:llama3.1", feedback=MODEL_APPROVED),
                                     {"actions": False}),
    "a message": (call(kind="message", tool_name="", arguments="", proposal="Dear customer,\n  refunded."),
                  {"actions": True}),
    "code": (call(kind="code", tool_name="", arguments="", proposal="import os\n" + "x = 1\n" * 100),
             {"actions": True}),
    "an on-call schedule unread": (call(oncall=("payments",), oncall_unread=("payments",),
                                        oncall_fallback=("U0BOB",)), {"actions": True}),
}


def card_of(name: str) -> dict[str, Any]:
    found, options = CASES[name]
    return approval_card(found, names=NAMES, **options)


def actions_of(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Every action of a card, those of its forms (Action.ShowCard's cards) too."""
    found: list[dict[str, Any]] = []
    for action in card.get("actions", []):
        found.append(action)
        if action["type"] == "Action.ShowCard":
            found.extend(actions_of(action["card"]))
    return found


def inputs_of(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {e["id"]: e for e in card.get("body", []) if e["type"].startswith("Input.")}
    for action in card.get("actions", []):
        if action["type"] == "Action.ShowCard":
            found.update(inputs_of(action["card"]))
    return found


def texts_of(card: dict[str, Any]) -> list[str]:
    """Every text the card shows as Markdown: TextBlocks' and Facts'."""
    found: list[str] = []
    for element in card.get("body", []):
        if element["type"] == "TextBlock":
            found.append(element["text"])
        if element["type"] == "FactSet":
            found.extend(text for fact in element["facts"] for text in (fact["title"], fact["value"]))
    for action in card.get("actions", []):
        if action["type"] == "Action.ShowCard":
            found.extend(texts_of(action["card"]))
    return found


@pytest.mark.parametrize("name", CASES)
def test_every_card_is_valid_by_the_adaptive_cards_1_5_schema(name: str) -> None:
    card = card_of(name)
    jsonschema.Draft6Validator(SCHEMA).validate(card)
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json" and card["version"] == "1.5"
    assert card_bytes(card) <= MAX_CARD_BYTES


def test_an_on_call_schedule_unread_is_said_on_the_teams_card_too() -> None:
    texts = texts_of(card_of("an on-call schedule unread"))
    said = r"On\-call schedule payments could not be read\: sent to the fallback approvers "  # (Markdown, inert)
    assert said + NAMES["U0BOB"] in texts
    assert not [t for t in texts_of(card_of("pending, the approver's")) if "could not be read" in t]


def test_the_schema_check_can_fail() -> None:
    card = card_of("pending, the approver's")
    card["body"][0]["wieght"] = "Bolder"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft6Validator(SCHEMA).validate(card)


def test_the_approvers_card_executes_the_contracts_verbs_with_the_approval_id() -> None:
    card = card_of("pending, the approver's")
    executes = {a["title"]: a for a in actions_of(card) if a["type"] == "Action.Execute"}
    assert {title: a["verb"] for title, a in executes.items()} == {
        "Approve": VERB_APPROVE, "Reject": VERB_REJECT, "Send back": VERB_REVISE, "Save & approve": VERB_SAVE_APPROVE}
    assert all(a["data"] == {"approval": "0c6d1f2e-aaaa-bbbb-cccc-000000000001"} for a in executes.values())
    assert [a["title"] for a in card["actions"]] == ["Approve", "Reject", "Revise"]
    assert executes["Approve"]["associatedInputs"] == "none"  # an Approve sends no note
    inputs = inputs_of(card)
    assert set(inputs) == {INPUT_REASON, *(field_id(n) for n in range(len(ARGUMENTS)))}  # one input per argument
    assert card["refresh"] == {"action": {"type": "Action.Execute", "title": "Refresh", "verb": VERB_REFRESH,
                                          "data": {"approval": "0c6d1f2e-aaaa-bbbb-cccc-000000000001"}},
                               "userIds": ["29:ana"]}


def test_revise_offers_one_input_per_argument_as_its_kind_says_prefilled_as_stored() -> None:
    """Input.Text, Input.Number, Input.Toggle, Input.ChoiceSet as the schema or the value says; nested values as
    JSON text; a hidden value as its mask (never its value); the JSON box, saying why, past the card's limits."""
    inputs = inputs_of(card_of("fields of every kind"))
    shown = {name: inputs[field_id(n)] for n, name in enumerate(KINDS)}
    assert {name: i["type"] for name, i in shown.items()} == {
        "to": "Input.Text", "amount": "Input.Number", "rate": "Input.Number", "urgent": "Input.Toggle",
        "tier": "Input.ChoiceSet", "items": "Input.Text", "body": "Input.Text", "token": "Input.Text"}
    assert shown["to"]["value"] == "cfo@example.com" and shown["amount"]["value"] == 1250
    assert shown["rate"]["value"] == 2.5 and shown["urgent"]["value"] == "true"
    assert (shown["urgent"]["valueOn"], shown["urgent"]["valueOff"]) == ("true", "false")
    assert [c["value"] for c in shown["tier"]["choices"]] == ["gold", "silver"] and shown["tier"]["value"] == "gold"
    assert json.loads(shown["items"]["value"]) == KINDS["items"] and shown["items"]["isMultiline"]
    assert shown["body"]["value"] == KINDS["body"] and shown["body"]["isMultiline"]
    assert shown["token"]["value"] == "[hidden: api key]" and "hidden (api key)" in shown["token"]["label"]
    assert INPUT_ARGUMENTS not in inputs
    many = card_of("too many arguments for fields")
    assert set(inputs_of(many)) == {INPUT_REASON, INPUT_ARGUMENTS}
    assert json.loads(inputs_of(many)[INPUT_ARGUMENTS]["value"]) == {f"k{n}": n for n in range(30)}
    assert plain(TOO_MANY_FIELDS) in texts_of(many)
    controlled = approval_card(call(arguments=json.dumps({"note": "a\x07b\u202e"})), names=NAMES, actions=True)
    assert inputs_of(controlled)[field_id(0)]["value"] == "ab"  # (as Slack's: an input keeps no control character)


def test_save_and_approve_is_offered_with_the_field_form_on_a_runs_own_call_only() -> None:
    """As Slack's field form: not for a program's ask (it asks about an edited call anew itself), not with the JSON
    box, not for arguments its agent runs only as made."""
    for name in ("a program's ask", "too many arguments for fields", "fixed arguments", "a message"):
        assert VERB_SAVE_APPROVE not in {a.get("verb") for a in actions_of(card_of(name))}, name
    assert plain(SAVE_APPROVE_WORDS) in texts_of(card_of("pending, the approver's"))


def test_the_read_only_card_has_no_action_and_says_the_status() -> None:
    card = card_of("pending, read-only")
    assert "actions" not in card and inputs_of(card) == {}
    assert "Waiting for a decision" in texts_of(card)
    assert card["refresh"]["userIds"] == ["29:ana"]  # approvers' cards refresh into theirs


def test_a_decided_card_has_no_refresh_nor_buttons_and_names_who_decided() -> None:
    card = card_of("rejected with a reason")
    assert "refresh" not in card and "actions" not in card
    shown = texts_of(card)
    assert plain("Rejected by Ana, 42s after the request") in shown, shown
    assert plain("Reason: Not **this** month") in shown
    assert approval_card(decided("approved"), names=NAMES, actions=True).get("actions") is None


def test_a_quorum_shows_its_votes_and_who_voted_for_whom() -> None:
    assert plain("1 of 2: Ana") in texts_of(card_of("quorum with a vote"))
    assert plain("2 of 3: Ana, Alice Example for Bob") in texts_of(card_of("quorum, a delegate's vote"))
    assert plain("Approved by Ana, Bob, 42s after the request") in texts_of(card_of("approved by a quorum"))


def test_a_programs_ask_names_its_agent_sponsor_and_requester_by_name() -> None:
    shown = texts_of(card_of("a program's ask"))
    assert plain("billing-agent, sponsored by Alice Example") in shown
    assert shown[shown.index(plain("Requested by")) + 1] == plain("Tea Person")


def test_the_change_summary_is_the_slack_cards_words() -> None:
    assert plain("Tool call send_refund · +2 −1 in 1 file · 1 command") in texts_of(card_of("with artefacts"))


def test_the_notice_and_the_page_link_are_on_the_card() -> None:
    assert texts_of(card_of("with a notice"))[0] == plain("Already decided by *Ana*")
    assert "[Open its page](https://bot.example/approvals/x)" in texts_of(card_of("markdown title"))


def test_a_pending_card_says_when_it_times_out_and_what_then() -> None:
    found = call(timeout_outcome="approve", deadline=1_800_000_000.0, timeout_seconds=1800)
    shown = texts_of(approval_card(found, names=NAMES, actions=False))
    assert plain("2027-01-15 08:00 UTC (after 30m), then approved") in shown
    assert plain("never") in texts_of(approval_card(replace(found, timeout_seconds=0), names=NAMES, actions=False))
    assert plain("Times out") not in texts_of(card_of("approved"))


def test_the_reminder_in_a_personal_chat_is_inert_and_says_how_long_it_waited() -> None:
    found = call(task="**Pay** [x](https://evil.example)", required_approvals=2, votes="U0ANA", created_at=1000.0,
                 deadline=1_800_000_000.0, timeout_seconds=1800)
    text = reminder_text(found, kind="reminder", now=1900.0)
    assert text == plain("Reminder: **Pay** [x](https://evil.example) (Tool call send_refund) has waited 15m for a"
                         " decision; it times out 2027-01-15 08:00 UTC (after 30m), then rejected. 1 of 2 approvals"
                         " so far. Your card is in this chat.")
    assert reminder_text(found, kind="escalation", now=1900.0).startswith("Escalated to you\\: ")


def test_what_approving_takes_is_said_while_pending() -> None:
    shown = " ".join(texts_of(card_of("step-up, attestation, details")))
    assert plain("Approving needs your passkey") in shown
    assert plain("attestation to the brief of refunds, C0SALES (Reject does not)") in shown
    assert plain("Open the details before approving") in shown
    assert plain("passkey") not in " ".join(texts_of(approval_card(decided("approved", step_up="policy"), names=NAMES,
                                                                   actions=False)))


def test_refresh_names_at_most_60_users() -> None:
    card = card_of("61+ refresh users")
    assert card["refresh"]["userIds"] == REFRESH_USERS[:60]


def test_markdown_in_a_title_is_escaped_on_the_card() -> None:
    shown = texts_of(card_of("markdown title"))
    assert plain(MARKDOWN_TITLE) in shown
    assert not any("**Pay**" in text or "](https://evil" in text for text in shown)


@pytest.mark.parametrize("text", ["**b**", "_i_", "`c`", "[l](https://x.org)", "https://x.org", "<b>", "# h",
                                  "- l", "1. l", "> q", "\\*", "a|b", "~~s~~", "&amp;", "![i](x.png)"])
def test_plain_escapes_every_markdown_special(text: str) -> None:
    made = plain(text)
    unescaped = [c for i, c in enumerate(made) if not c.isalnum() and not c.isspace()
                 and (i == 0 or made[i - 1] != "\\") and c != "\\"]
    assert unescaped == [], made
    assert made.replace("\\", "") == text.replace("\\", "")


def test_plain_keeps_indentation_inert_and_drops_direction_overrides() -> None:
    assert plain("    code\n\tx") == "\u00a0" * 4 + "code\n" + "\u00a0" * 4 + "x"
    assert plain("a\u202eb\x07") == "ab"


def test_huge_arguments_are_cut_within_28_kb_saying_how_much_is_left_out() -> None:
    card = card_of("huge arguments")
    assert card_bytes(card) <= MAX_CARD_BYTES
    shown = " ".join(texts_of(card))
    assert "more characters" in shown and "more argument" in shown
    assert INPUT_ARGUMENTS not in inputs_of(card)  # too long to edit on the card: its page says


@pytest.fixture
def hiding(store: Store) -> Hiding:
    return Hiding(store, rules=dict)


CARD_NUMBER = "4111 1111 1111 1111"
STRIPE_KEY = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"


async def test_no_secret_is_on_a_card_built_from_the_record_as_stored(hiding: Hiding) -> None:
    asked = call(task=f"Charge card {CARD_NUMBER} now", why=f"key {STRIPE_KEY} in use",
                 arguments=json.dumps({"card": CARD_NUMBER, "api_key": STRIPE_KEY, "amount": 5}))
    stored = await hiding.hide(asked, keep=False)
    secrets = [CARD_NUMBER, STRIPE_KEY]
    for options in ({"actions": True, "refresh_users": ["29:a"]}, {"actions": False}):
        card = approval_card(stored, names=NAMES, **options)
        sent = json.dumps(card, ensure_ascii=False)
        assert leaks(sent, secrets) == []
        assert "1111" in sent  # the mask, shown as a mask (what the Slack card shows)
    assert leaks(json.dumps(approval_card(asked, names=NAMES, actions=True)), secrets)  # (the check can fail)


def render(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cards parsed and rendered by `adaptivecards` under Node (tests/msteams/node/render.mjs)."""
    if not (HERE / "node" / "node_modules" / "adaptivecards").is_dir():
        raise RuntimeError("the renderer is not installed: npm ci --prefix tests/msteams/node")
    done = subprocess.run([node(), str(RENDER)], input=json.dumps(cards), capture_output=True, text=True,
                          check=True, timeout=120)
    found: list[dict[str, Any]] = json.loads(done.stdout)
    return found


@pytest.mark.slow
def test_every_card_parses_and_renders_in_adaptivecards_without_a_warning() -> None:
    names = list(CASES)
    results = dict(zip(names, render([card_of(name) for name in names]), strict=True))
    for name, result in results.items():
        assert result["events"] == [] and result["failures"] == [], (name, result["events"], result["failures"])
        assert f">{html.escape(title(CASES[name][0]), quote=False)}</p>" in result["html"], name
        pending = CASES[name][0].pending
        approver = CASES[name][1]["actions"] and pending
        expected = (["Reject", "Revise"] if CASES[name][0].schema_error else ["Approve", "Reject", "Revise"])
        assert result["buttons"] == (expected if approver else []), name


@pytest.mark.slow
def test_markdown_in_untrusted_text_renders_literally_and_links_nowhere() -> None:
    [result] = render([card_of("markdown title")])
    html = result["html"]
    assert "**Pay** [now](https://evil.example/x) &lt;b&gt;hi&lt;/b&gt; _me_ # Head" in html
    assert "<strong>" not in html and "<em>" not in html and "<h1>" not in html and "<ul>" not in html
    assert "<pre>" not in html and "<code>" not in html
    assert 'href="https://evil.example' not in html
    assert 'href="https://bot.example/approvals/x"' in html  # (the bot's own link is one)


@pytest.mark.slow
def test_the_render_check_can_fail() -> None:
    """A card the renderer warns about (an unknown element, a duplicate input id) and raw Markdown do show up."""
    card = card_of("pending, the approver's")
    card["body"].append({"type": "Nonsense"})
    card["body"].append({"type": "Input.Text", "id": INPUT_REASON})
    card["body"].append({"type": "TextBlock", "text": "**bold** https://evil.example"})
    [result] = render([card])
    assert result["events"] and result["failures"]
    assert "<strong>bold</strong>" in result["html"] and 'href="https://evil.example"' in result["html"]


def test_the_triage_models_reading_is_under_the_change_labelled_and_inert() -> None:
    """#92: the model's words are untrusted (made inert, as every text of the card), labelled as the model's, shown
    under the change (after the proposal), never in the buttons."""
    card = card_of("the triage model's reading")
    shown = texts_of(card)
    line = plain("The triage model's reading (a model's, not a person's): " + READING)
    assert line in shown, shown
    assert "<b>" not in line and "[now](" not in line  # inert: no link, no markup live
    body = [json.dumps(e) for e in card["body"]]
    reading = next(i for i, e in enumerate(card["body"]) if e.get("text") == line)
    assert reading > max(i for i, e in enumerate(body) if "Arguments" in e)  # under the change (its arguments)
    assert READING not in json.dumps(card.get("actions", []))
    assert plain(MODEL_APPROVED) in texts_of(card_of("approved by the triage model"))
