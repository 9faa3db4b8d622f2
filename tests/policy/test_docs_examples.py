"""The examples of the operators' page on policies (docs/operators/policies.md), as written there, do what the page
says they do: each is read from the page (a fenced block right after `<!-- file: EXAMPLE/FILE -->`), written to a
POLICY_DIR of its own, loaded as a worker loads it, and proven through the Approvals API of a real worker (Redis, the
Slack stand-in): reads approved at once, destructive commands refused with the reason, the refund budget, production
deploys in office hours with the on-call engineers (the hours evaluated directly at chosen times, and one real ask at
the time it is now), a shadow policy that changes nothing but the audit log until its `@mode` line goes, the
policies about who decides refusing the votes the page says. The page's
`policy test` cases hold for all the examples together; a bundle that does not load stops a start (exit 2, naming
file and line) and, on a reload, keeps the last good one."""

from __future__ import annotations

import calendar
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from bot.devslack.server import DevChannel, SlackStandIn, default_channels
from bot.policy.bundle import load_bundle
from bot.policy.decide import DeciderRequest, Evaluator, PolicyRequest
from tests.conftest import ALICE, BOB, BOT_TOKEN, CAROL, SALES, SIGNING_SECRET, STOP_WITHIN, Worker, stopped_within
from tests.support.api import Client, new_key
from tests.support.hitl import audit_events, click, nth_card, until
from tests.support.policies import BIG_REFUNDS_IN_SLACK, StartPolicyWorker, quick_reloads, write_bundle

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "operators" / "policies.md"
MARK = re.compile(r"<!-- file: ([a-z0-9-]+)/([A-Za-z0-9._-]+) -->\n```([a-z]+) title=\"([^\"]+)\"\n(.*?)\n```\n", re.S)
FIXTURES = "fixtures"  # the `policy test` cases: not a policy folder
OPS = "C0OPS"  # the page's stand-ins for an ops channel and two user groups
GROUPS = {"S0FINANCE": [BOB, CAROL], "S0ONCALL": [CAROL]}
MONDAY = (2024, 1, 1)  # a Monday: `context.time.weekday` 1


def page_examples() -> dict[str, dict[str, str]]:
    """{example: {file name: text}} of the page, each block exactly as written."""
    text = PAGE.read_text(encoding="utf-8")
    found: dict[str, dict[str, str]] = {}
    for example, name, _language, title, body in MARK.findall(text):
        assert title == name, f"{example}/{name}: the block's visible title says {title!r}"
        assert name not in found.get(example, {}), f"{example}/{name} is on the page twice"
        found.setdefault(example, {})[name] = body + "\n"
    assert sum(len(files) for files in found.values()) == text.count("<!-- file: "), (
        "a `<!-- file: EXAMPLE/FILE -->` marker is not followed by a fenced block with title=\"FILE\"")
    return found


EXAMPLES = page_examples()


def example(name: str) -> dict[str, str]:
    assert name in EXAMPLES, f"the page has no example {name!r} (it has {sorted(EXAMPLES)})"
    return EXAMPLES[name]


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandIn]:
    """The stand-in with the page's ops channel and user groups (finance: bob and carol; on call: carol)."""
    standin = SlackStandIn(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN,
                           channels=[*default_channels(), DevChannel(id=OPS, name="ops")], usergroups=GROUPS)
    await standin.start()
    yield standin
    await stopped_within(standin.stop(), STOP_WITHIN, what="the Slack stand-in's shutdown")


def tool(name: str, **arguments: Any) -> dict[str, Any]:
    return {"kind": "tool", "title": f"Call {name}", "requester": ALICE, "tool": {"name": name, "arguments": arguments}}


async def policy_client(policy_worker: StartPolicyWorker, example_name: str, key: str) -> tuple[Worker, Client]:
    worker = await policy_worker(example(example_name))
    return worker, Client(worker, (await new_key(worker, key)).key)


def claim(record: Any) -> dict[str, Any]:
    assert record is not None
    return dict(json.loads(record.policy))


def at(weekday: int, hour: int, minute: int = 0) -> float:
    """A moment of the week (1 Monday ... 7 Sunday), in UTC."""
    year, month, day = MONDAY
    return float(calendar.timegm((year, month, day + weekday - 1, hour, minute, 0, 0, 0, 0)))


# every example loads, alone and together; the page's `policy test` cases ------------------------------------------


def test_every_example_loads_alone_and_all_of_them_together(tmp_path: Path) -> None:
    expected = {
        "reads": {"reads"},
        "commands": {"no-destructive-commands"},
        "refunds": {"refunds-within-budget", "refunds-over-budget"},
        "deploys": {"deploys-office-hours", "deploys-on-call"},
        "shadow": {"email-inside-company"},
        "deciders": {"big-refunds-decided-in-slack", "payments-decided-in-their-workspace"},
    }
    assert set(EXAMPLES) == {*expected, FIXTURES}
    for name, ids in expected.items():
        bundle = load_bundle(write_bundle(tmp_path / name, example(name)))
        assert set(bundle.policies) == ids | {"default:risk-words"}, name
    assert [w.name for w in load_bundle(tmp_path / "refunds").windows] == ["refunds_24h"]
    assert load_bundle(tmp_path / "shadow").policies["email-inside-company"].shadow
    everything = {file: text for name in expected for file, text in example(name).items()}
    assert len(everything) == sum(len(example(name)) for name in expected)  # no two examples share a file name
    assert len(load_bundle(write_bundle(tmp_path / "all", everything)).policies) == 1 + sum(map(len, expected.values()))


def test_the_page_s_policy_test_cases_hold_for_the_examples_together(tmp_path: Path) -> None:
    everything = {file: text for name, files in EXAMPLES.items() if name != FIXTURES for file, text in files.items()}
    evaluator = Evaluator(load_bundle(write_bundle(tmp_path / "policies", everything)))
    cases = yaml.safe_load(example(FIXTURES)["policy-tests.yaml"])
    assert isinstance(cases, list) and len(cases) >= 8
    seen = set()
    for case in cases:
        assert set(case) <= {"name", "agent", "run", "requester", "action", "channel", "kind", "args", "window",
                             "time", "expect"}, case
        moment = case.get("time")
        request = PolicyRequest(
            principal_type="Agent" if "agent" in case else "Run", principal=case.get("agent") or case["run"],
            action=case["action"], channel=case.get("channel", SALES), kind=case.get("kind", "tool_call"),
            args=case.get("args") or {}, requester=case.get("requester", ""),
            at=at(moment["weekday"], moment["hour_utc"]) if moment else time.time(),
        )
        verdict = evaluator.evaluate(request, case.get("window") or {})
        assert verdict.outcome == case["expect"], (case["name"], verdict)
        seen.add(case["expect"])
    assert seen == {"allow", "deny", "ask", "none"}


# a. reads ---------------------------------------------------------------------------------------------------------


async def test_reads_are_approved_at_once_by_the_policy(policy_worker: StartPolicyWorker, slack: SlackStandIn) -> None:
    worker, client = await policy_client(policy_worker, "reads", "support-bot")
    bundle = worker.services.approvals.policies.bundle
    for name, arguments in (("read_file", {"path": "README.md"}), ("list_files", {"path": "docs"}),
                            ("search", {"query": "refund"})):
        status, answer = await client.ask(tool(name, **arguments))
        assert status in (200, 201), answer
        assert (answer["status"], answer["decided_by"], answer["reason"]) == (
            "approved", "policy", "reading is routine"), answer
        assert claim(await worker.services.store.approvals.get(answer["id"])) == {"bundle": bundle.hash,
                                                                                 "ids": ["reads"]}
    entries = await audit_events(worker, "auto_approved")
    assert len(entries) == 3 and all(entry["by"] == "policy" for entry in entries), entries
    assert json.loads(entries[0]["policy"]) == {"bundle": bundle.hash, "ids": ["reads"]}
    _, other = await client.ask(tool("write_file", path="README.md", text="hello"))
    assert other["status"] == "pending", other  # not a read: the channel decides, as without policies
    assert "shield" not in json.dumps((await nth_card(slack, 1))["blocks"])
    async with aiohttp.ClientSession() as http, http.get(worker.url + "/healthz") as response:
        health = await response.json()
    assert health["policy"] == {"bundle": load_bundle(bundle.directory).hash, "mode": "enforce"}, health


# b. destructive commands ------------------------------------------------------------------------------------------


async def test_destructive_commands_are_refused_at_once_with_the_reason(
    policy_worker: StartPolicyWorker, slack: SlackStandIn
) -> None:
    worker, client = await policy_client(policy_worker, "commands", "ops-bot")
    reason = worker.services.approvals.policies.bundle.policies["no-destructive-commands"].reason
    assert "destructive" in reason
    for name, command in (("bash", "cd /srv && rm -rf build"), ("run_command", "psql -c 'DROP TABLE users'"),
                          ("bash", "sqlite3 app.db 'drop table users'")):
        _, answer = await client.ask(tool(name, command=command))
        assert (answer["status"], answer["decided_by"], answer["reason"]) == ("rejected", "policy", reason), answer
    _, harmless = await client.ask(tool("bash", command="ls -la"))
    assert harmless["status"] == "pending", harmless
    await nth_card(slack, 1)
    assert len([m for m in slack.messages("C0APPROVALS") if m.get("blocks")]) == 1  # the refusals had no card
    refused = await audit_events(worker, "auto_rejected")
    assert len(refused) == 3 and {entry["by"] for entry in refused} == {"policy"}, refused


async def test_claude_codes_rm_rf_is_refused_by_the_example(
    policy_worker: StartPolicyWorker, slack: SlackStandIn
) -> None:
    """#51.13: Claude Code's tool is `Bash`, and a policy matches a tool's name exactly: the page's example names it,
    so the hook's call is refused at once with the reason, no card (it once got an ordinary card)."""
    worker, _ = await policy_client(policy_worker, "commands", "ops-bot")
    key = (await new_key(worker, "claude-code")).key
    hook = {"session_id": "s-1", "cwd": "/srv/app", "hook_event_name": "PreToolUse", "tool_name": "Bash",
            "tool_input": {"command": "rm -rf build", "description": "Clean"}, "tool_use_id": "toolu_1"}
    status, body, _ = await Client(worker, key).call("POST", "/api/v1/hooks/claude-code?wait=1", body=hook)
    out = body["hookSpecificOutput"]
    assert status == 200 and out["permissionDecision"] == "deny", body
    assert "destructive commands (rm -rf, DROP TABLE) are never run" in out["permissionDecisionReason"], out
    assert [m for m in slack.messages("C0APPROVALS") if m.get("blocks")] == []  # no card


# c. the refund budget ---------------------------------------------------------------------------------------------


async def test_the_refund_budget_allows_within_and_asks_two_of_finance_beyond_with_the_reason(
    policy_worker: StartPolicyWorker, slack: SlackStandIn
) -> None:
    worker, client = await policy_client(policy_worker, "refunds", "support-bot")

    def refund(cents: int) -> dict[str, Any]:
        return tool("refund", order="A-1", amount_cents=cents)

    _, first = await client.ask(refund(35000))
    assert (first["status"], first["decided_by"]) == ("approved", "policy"), first
    _, second = await client.ask(refund(20000))
    assert second["status"] == "pending", second
    card = await nth_card(slack, 1)
    assert ":shield: Policy refunds-over-budget: would exceed $500 in 24 h (spent $350)" in json.dumps(
        card["blocks"], ensure_ascii=False)
    pending = await worker.services.store.approvals.get(second["id"])
    assert pending is not None and pending.approvers == ("S0FINANCE",) and pending.required_approvals == 2
    assert claim(pending)["ids"] == ["refunds-over-budget"]
    await click(slack, card, "approval_approve", user=BOB)  # one of finance: not enough
    await click(slack, card, "approval_approve", user=CAROL)  # two
    assert (await client.wait(second["id"]))["status"] == "approved"
    _, third = await client.ask(refund(100))
    assert third["status"] == "pending", third  # $550 spent: even $1 more asks
    assert "(spent $550)" in json.dumps((await nth_card(slack, 2))["blocks"])
    other = Client(worker, (await new_key(worker, "billing-bot")).key)
    _, theirs = await other.ask(refund(50000))
    assert theirs["status"] == "approved", theirs  # another agent, its own budget


async def test_a_negative_amount_never_credits_the_budget(
    policy_worker: StartPolicyWorker, slack: SlackStandIn
) -> None:
    """#51.4: refund(-1,000,000 cents) once was allowed at once and subtracted, after which a $10,000 refund was
    allowed at once. A call never lowers a window: it is not counted, and a person decides it."""
    worker, client = await policy_client(policy_worker, "refunds", "support-bot")
    _, credit = await client.ask(tool("refund", order="A-1", amount_cents=-1_000_000))
    assert credit["status"] == "pending", credit
    card = await nth_card(slack, 1)
    assert "args.amount_cents is -1000000, below zero: it is not counted against refunds_24h" in json.dumps(
        card["blocks"])
    _, large = await client.ask(tool("refund", order="A-2", amount_cents=1_000_000))
    assert large["status"] == "pending", large  # beyond the budget: two of finance decide
    pending = await worker.services.store.approvals.get(large["id"])
    assert pending is not None and pending.approvers == ("S0FINANCE",) and pending.required_approvals == 2
    assert "(spent $0)" in json.dumps((await nth_card(slack, 2))["blocks"])  # the credit was not counted


WINDOW_ONLY = {
    "policy.yaml": "windows:\n  refunds_24h: {sum: args.amount_cents, per: [principal, action], over: 24h}\n",
    "refunds.cedar": '''
@id("refunds-while-budget-left")
permit (principal, action == Action::"refund", resource)
when { context.window.refunds_24h < 50000 };
''',
}


async def test_an_amount_that_is_not_an_integer_is_not_counted_and_a_person_decides(
    policy_worker: StartPolicyWorker, slack: SlackStandIn
) -> None:
    """#51.4: a summed argument that is not an integer (a float, text) cannot be counted; were it allowed at once it
    would pass the budget uncounted (a policy that reads only the window allowed refund(1e12) at once)."""
    worker = await policy_worker(WINDOW_ONLY)
    client = Client(worker, (await new_key(worker, "support-bot")).key)
    for n, amount in enumerate([1e12, "100000000", True], start=1):
        _, asked = await client.ask(tool("refund", order=f"A-{n}", amount_cents=amount))
        assert asked["status"] == "pending", (amount, asked)
        shown = json.dumps((await nth_card(slack, n))["blocks"])
        assert "args.amount_cents is not an integer: it is not counted against refunds_24h" in shown, shown
    _, small = await client.ask(tool("refund", order="A-9", amount_cents=100))
    assert small["status"] == "approved", small  # nothing was counted


# d. production deploys --------------------------------------------------------------------------------------------


def office_hours(moment: float) -> bool:
    day = time.gmtime(moment)
    return day.tm_wday < 5 and 9 <= day.tm_hour < 17


def test_production_deploys_are_refused_outside_weekdays_9_to_17_utc_and_ask_on_call_inside(tmp_path: Path) -> None:
    evaluator = Evaluator(load_bundle(write_bundle(tmp_path / "deploys", example("deploys"))))

    def deploy(moment: float, environment: str = "production") -> Any:
        return evaluator.evaluate(PolicyRequest(principal_type="Agent", principal="deploy-bot", action="deploy",
                                                channel=SALES, kind="tool_call", args={"environment": environment},
                                                at=moment))

    for weekday, hour, minute in ((1, 9, 0), (1, 10, 30), (3, 13, 0), (5, 16, 59)):
        verdict = deploy(at(weekday, hour, minute))
        assert (verdict.outcome, verdict.ids, verdict.approvers, verdict.channel, verdict.timeout, verdict.step_up) == (
            "ask", ("deploys-on-call",), ("S0ONCALL",), OPS, 1800, True), (weekday, hour, verdict)
    for weekday, hour, minute in ((1, 8, 59), (1, 17, 0), (5, 17, 0), (2, 3, 0), (6, 12, 0), (7, 10, 0)):
        verdict = deploy(at(weekday, hour, minute))
        assert (verdict.outcome, verdict.ids) == ("deny", ("deploys-office-hours",)), (weekday, hour, verdict)
        assert verdict.reason == "production deploys happen on weekdays from 9:00 to 17:00 UTC"
    assert office_hours(at(5, 16, 59)) and not office_hours(at(6, 12))
    for moment in (at(1, 10), at(6, 12)):
        assert deploy(moment, "staging").outcome == "none"


def test_the_policies_about_who_decides_refuse_the_votes_the_page_says(tmp_path: Path) -> None:
    """The page's example: a big refund's Approve refused in Teams, counted in Slack; a payment approved only by
    people of the workspace that asked, rejected by anyone; the example the end-to-end tests run
    (tests/msteams/test_decider_policies.py) is this one."""
    files = example("deciders")
    assert BIG_REFUNDS_IN_SLACK.strip() in files["deciders.cedar"]
    evaluator = Evaluator(load_bundle(write_bundle(tmp_path / "deciders", files)))
    refund = DeciderRequest(person="teams:0d9c3b54-0000-4000-8000-000000000001", surface="teams", action="refund",
                            channel=OPS, vote="approve", kind="tool_call", args={"amount_cents": 1_000_001})
    assert evaluator.evaluate_vote(refund).ids == ("big-refunds-decided-in-slack",)
    assert evaluator.evaluate_vote(replace(refund, person=BOB, surface="slack")).outcome == "none"
    assert evaluator.evaluate_vote(replace(refund, args={"amount_cents": 1_000_000})).outcome == "none"
    pay = DeciderRequest(person=BOB, surface="slack", action="pay_invoice", channel=OPS, vote="approve",
                         kind="tool_call", args={"invoice": "INV-7"}, team="T0EU", enterprise="E0ORG",
                         person_team="T0US", person_enterprise="E0ORG")
    refused = evaluator.evaluate_vote(pay)
    assert refused.reason == ("Policy payments-decided-in-their-workspace: a payment is approved by people of the"
                              " workspace that asked for it (INV-7)")
    for counts in (replace(pay, person_team="T0EU"), replace(pay, vote="reject"), replace(pay, team="")):
        assert evaluator.evaluate_vote(counts).outcome == "none", counts


async def test_a_production_deploy_now_is_decided_as_the_clock_says(
    policy_worker: StartPolicyWorker, slack: SlackStandIn
) -> None:
    worker, client = await policy_client(policy_worker, "deploys", "deploy-bot")
    before = office_hours(time.time())
    _, answer = await client.ask(tool("deploy", environment="production", version="2.4.1"))
    after = office_hours(time.time())
    inside = answer["status"] == "pending"
    assert inside in (before, after), (before, after, answer)  # (the hour may turn during the ask)
    if inside:
        record = await worker.services.store.approvals.get(answer["id"])
        assert record is not None
        assert (record.card_channel, record.approvers, record.timeout_seconds, record.timeout_outcome,
                record.step_up) == (OPS, ("S0ONCALL",), 1800, "reject", "policy")
        cards = await until(lambda: [m for m in slack.messages(OPS) if m.get("blocks")], what="a card in #ops")
        assert "Policy deploys-on-call: a production deploy" in json.dumps(cards[0]["blocks"])
    else:
        assert (answer["status"], answer["decided_by"], answer["reason"]) == (
            "rejected", "policy", "production deploys happen on weekdays from 9:00 to 17:00 UTC"), answer


# e. a shadow rollout ----------------------------------------------------------------------------------------------


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_a_shadow_policy_changes_nothing_but_the_audit_log_until_its_mode_line_goes(
    policy_worker: StartPolicyWorker, slack: SlackStandIn
) -> None:
    worker, client = await policy_client(policy_worker, "shadow", "mailer")
    engine = quick_reloads(worker.services.approvals.policies)
    _, outside = await client.ask(tool("send_email", to="dana@elsewhere.org", body="Prices go up on May 1."))
    assert outside["status"] == "pending", outside  # decided as before: the channel's mode asks a person
    assert "shield" not in json.dumps((await nth_card(slack, 1))["blocks"])
    assert claim(await worker.services.store.approvals.get(outside["id"])) == {"bundle": engine.bundle.hash, "ids": []}
    entries = await until(lambda: audit_events(worker, "policy_shadow"), what="a policy_shadow entry")
    assert len(entries) == 1 and entries[0]["approval"] == outside["id"], entries
    assert (entries[0]["outcome"], entries[0]["would"], entries[0]["reason"]) == (
        "none", "deny", "email goes to example.com addresses only"), entries
    assert json.loads(entries[0]["policy"]) == {"bundle": engine.bundle.hash, "ids": ["email-inside-company"]}
    _, inside = await client.ask(tool("send_email", to="bob@example.com", body="Prices go up on May 1."))
    assert inside["status"] == "pending", inside

    # enforce: delete the @mode("shadow") line; the worker picks the change up by itself
    path = Path(engine.bundle.directory) / "emails.cedar"
    text = path.read_text()
    assert text.count('@mode("shadow")\n') == 1
    shadow_hash = engine.bundle.hash
    path.write_text(text.replace('@mode("shadow")\n', ""))
    await until(lambda: engine.bundle.hash != shadow_hash, within=15, what="the edited bundle reloaded")
    _, refused = await client.ask(tool("send_email", to="dana@elsewhere.org", body="Prices go up on May 1."))
    assert (refused["status"], refused["decided_by"], refused["reason"]) == (
        "rejected", "policy", "email goes to example.com addresses only"), refused
    _, allowed = await client.ask(tool("send_email", to="bob@example.com", body="Prices go up on May 1."))
    assert allowed["status"] == "pending", allowed

    async def both_loads() -> list[dict[str, str]] | None:  # the reload is audited right after it takes effect
        loads = await audit_events(worker, "policy_loaded")
        return loads if len(loads) == 2 else None

    loads = await until(both_loads, what="the start's load and the reload audited")
    assert [entry["bundle"] for entry in loads] == [shadow_hash, engine.bundle.hash], loads
    assert len(await audit_events(worker, "policy_shadow")) == 1  # the enforced bundle has nothing in shadow


async def test_policy_mode_shadow_puts_the_whole_folder_in_shadow(
    policy_worker: StartPolicyWorker, slack: SlackStandIn
) -> None:
    worker = await policy_worker(example("commands"), POLICY_MODE="shadow")
    client = Client(worker, (await new_key(worker, "ops-bot")).key)
    _, answer = await client.ask(tool("bash", command="rm -rf build"))
    assert answer["status"] == "pending", answer  # not refused: the folder is in shadow
    entries = await until(lambda: audit_events(worker, "policy_shadow"), what="a policy_shadow entry")
    assert (entries[0]["would"], json.loads(entries[0]["policy"])["ids"]) == ("deny", ["no-destructive-commands"])


# a bundle that does not load --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_bundle_that_does_not_load_stops_a_start_with_exit_2_naming_the_file_and_line(tmp_path: Path) -> None:
    broken = example("refunds")["refunds.cedar"].replace("<= 50000 };", "<= };")
    folder = write_bundle(tmp_path / "broken", {**example("refunds"), "refunds.cedar": broken})
    line = 1 + broken.splitlines().index('@id("refunds-within-budget")')
    env = {**os.environ, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
           "APPROVALS_CHANNEL": "C0APPROVALS", "POLICY_DIR": str(folder), "REDIS_URL": "redis://127.0.0.1:1/0",
           "PORT": "3000"}
    done = subprocess.run([sys.executable, "-m", "bot"], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert f"error: POLICY_DIR: refunds.cedar:{line}: " in done.stderr, done.stderr


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_a_bad_edit_keeps_the_last_good_bundle_and_is_audited(
    policy_worker: StartPolicyWorker, slack: SlackStandIn
) -> None:
    worker, client = await policy_client(policy_worker, "commands", "ops-bot")
    engine = quick_reloads(worker.services.approvals.policies)
    good = engine.bundle.hash
    (Path(engine.bundle.directory) / "commands.cedar").write_text(
        example("commands")["commands.cedar"].replace('@id("no-destructive-commands")\n', ""))
    failed = await until(lambda: audit_events(worker, "policy_load_failed"), within=15, what="policy_load_failed")
    assert "commands.cedar:" in failed[0]["error"] and "@id" in failed[0]["error"], failed
    assert failed[0]["kept"] == good and engine.bundle.hash == good
    _, answer = await client.ask(tool("bash", command="rm -rf build"))
    assert answer["status"] == "rejected", answer  # the last good bundle still decides
