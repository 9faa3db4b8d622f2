"""`python -m bot policy check | test | replay | explain` as an operator runs them: their exit codes and what they
print (in this process, `tests/support/cli.py`; one test runs `check` as a real process); replay and explain read
a history a real worker made through the Approvals API (Redis, the Slack stand-in)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.devslack.server import SlackStandIn
from bot.policy.bundle import load_bundle
from tests.support.api import Client, new_key, tool_ask
from tests.support.hitl import until, write_config
from tests.support.openai_compatible import openai_config
from tests.support.policies import (
    BIG_REFUNDS_IN_SLACK,
    REFUND_WINDOWS,
    REFUNDS,
    StartPolicyWorker,
    policy_cli,
    refund,
    write_bundle,
)
from tests.support.source import ROOT

BAD_REFUNDS = REFUNDS.replace("context.args.amount_cents + context.window.refunds_24h > 50000",
                              "context.args.amount_cents +> 50000")
CASES = """
- name: a small refund is allowed
  agent: support-bot
  action: refund
  args: {order: A-1, amount_cents: 2000}
  window: {refunds_24h: 10000}
  expect: allow
  ids: [refunds-within-budget]
- name: over the budget, finance decides
  principal: 'Agent::"support-bot"'
  action: refund
  args: {amount_cents: 20000}
  window: {refunds_24h: 35000}
  expect: ask
  ids: [refunds-over-budget]
- name: the bot's own run, at night
  run: r123
  requester: U0ALICE
  action: refund
  args: {amount_cents: 100}
  time: {hour_utc: 3, weekday: 6}
  expect: allow
- name: a message is no refund
  agent: support-bot
  action: message
  expect: none
"""
WRONG_CASE = """
- name: the whole budget in one refund
  agent: support-bot
  action: refund
  args: {amount_cents: 50001}
  expect: allow
"""


def line_of(text: str, words: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if words in line)


@pytest.mark.slow
async def test_policy_check_as_a_process(tmp_path: Path) -> None:
    """The command as an operator runs it: a real process, its exit codes and its output."""
    good = write_bundle(tmp_path / "good", {"refunds.cedar": REFUNDS, "policy.yaml": REFUND_WINDOWS})
    bad = write_bundle(tmp_path / "bad", {"refunds.cedar": BAD_REFUNDS, "policy.yaml": REFUND_WINDOWS})
    environment = {key: value for key, value in os.environ.items() if key not in ("POLICY_DIR", "REDIS_KEY_PREFIX")}
    for folder, code, said in ((good, 0, f"bundle {load_bundle(good).hash}: 3 policies"), (bad, 2, "")):
        done = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "bot", "policy", "check", "--dir",
                                                        str(folder)], env=environment, cwd=ROOT, capture_output=True,
                                       text=True, timeout=120, check=False)
        assert done.returncode == code, done.stdout + done.stderr
        assert done.stdout.startswith(said), done.stdout
        assert ("error: refunds.cedar:" in done.stderr) == (code == 2), done.stderr


async def test_check_prints_the_bundle_and_names_the_file_and_line_of_a_policy_that_does_not_parse(
    tmp_path: Path,
) -> None:
    good = write_bundle(tmp_path / "good", {"refunds.cedar": REFUNDS, "policy.yaml": REFUND_WINDOWS})
    bad = write_bundle(tmp_path / "bad", {"refunds.cedar": BAD_REFUNDS, "policy.yaml": REFUND_WINDOWS})
    loaded, broken = await asyncio.gather(policy_cli("check", "--dir", str(good)),
                                          policy_cli("check", POLICY_DIR=str(bad)))
    assert loaded.returncode == 0, loaded.stderr
    said = loaded.stdout
    assert said.startswith(f"bundle {load_bundle(good).hash}: 3 policies from {good}"), said
    within, over = line_of(REFUNDS, '@id("refunds-within-budget")'), line_of(REFUNDS, '@id("refunds-over-budget")')
    assert f"refunds-within-budget  allow  refunds.cedar:{within}" in said, said
    assert f"refunds-over-budget  ask  refunds.cedar:{over}  [approvers S0FINANCE; quorum 2]" in said, said
    assert "window refunds_24h: sum of args.amount_cents per principal, action over 1d" in said, said
    assert broken.returncode == 2 and broken.stdout == "", broken
    assert broken.stderr == f"error: refunds.cedar:{over}: unexpected token `>`\n", broken.stderr  # the 2nd policy


TRIAGED = '''
@id("small-refunds-triaged")
@outcome("ask")
@triage("llama3.1")
forbid (principal, action == Action::"refund", resource)
when { context.args.amount_cents <= 10000 };
'''


async def test_check_names_a_triage_model_that_model_config_lacks(tmp_path: Path) -> None:
    """As a worker's start refuses it (#92): with MODEL_CONFIG set, each @triage names one of its models."""
    folder = write_bundle(tmp_path / "policies", {"refunds.cedar": TRIAGED})
    other = write_config(tmp_path, openai_config("http://127.0.0.1:9/v1", model="mistral"), name="other.json")
    named = write_config(tmp_path, openai_config("http://127.0.0.1:9/v1", model="llama3.1"), name="named.json")
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    unset, lacking, holding, unreadable = await asyncio.gather(
        policy_cli("check", "--dir", str(folder)), policy_cli("check", "--dir", str(folder), MODEL_CONFIG=str(other)),
        policy_cli("check", "--dir", str(folder), MODEL_CONFIG=str(named)),
        policy_cli("check", "--dir", str(folder), MODEL_CONFIG=str(tmp_path / "broken.json")))
    assert unset.returncode == 0 and holding.returncode == 0, (unset, holding)  # unset: not checked, as `test`
    assert holding.stdout == unset.stdout and "small-refunds-triaged  ask" in holding.stdout, holding.stdout
    assert lacking.returncode == 2 and lacking.stdout == "", lacking
    assert "llama3.1" in lacking.stderr and "MODEL_CONFIG (its models: mistral)" in lacking.stderr, lacking.stderr
    assert unreadable.returncode == 2 and "broken.json is not valid JSON/YAML" in unreadable.stderr, unreadable


def reached(route: str) -> str:
    return f'''
@id("refunds-reached")
@outcome("ask")
@reach("{route}")
forbid (principal, action == Action::"refund", resource);
'''


async def test_check_refuses_a_bad_route_and_names_its_file_and_line(tmp_path: Path) -> None:
    """A route across surfaces (#90) is parsed once, strictly: a bad @reach stops the bundle, never a default."""
    good = write_bundle(tmp_path / "good", {"refunds.cedar": reached("slack; email after 10m")})
    bad = write_bundle(tmp_path / "bad", {"refunds.cedar": reached("slack; email after 10m; fax after 1h")})
    loaded, broken = await asyncio.gather(policy_cli("check", "--dir", str(good)),
                                          policy_cli("check", "--dir", str(bad)))
    assert loaded.returncode == 0 and "refunds-reached  ask" in loaded.stdout, loaded
    assert broken.returncode == 2 and broken.stdout == "", broken
    assert "refunds.cedar:" in broken.stderr and "@reach(" in broken.stderr, broken.stderr
    assert "step 3: 'fax' is not a surface" in broken.stderr, broken.stderr


async def test_fixtures_that_hold_pass_and_each_mismatch_is_named(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "policies", {"refunds.cedar": REFUNDS, "policy.yaml": REFUND_WINDOWS})
    (tmp_path / "cases.yaml").write_text(CASES)
    (tmp_path / "wrong.yaml").write_text(CASES + WRONG_CASE)
    (tmp_path / "bad.yaml").write_text(CASES.replace("window: {refunds_24h: 35000}", "window: {refunds_7d: 1}"))
    held, wrong, bad = await asyncio.gather(
        policy_cli("test", str(tmp_path / "cases.yaml"), POLICY_DIR=str(bundle)),
        policy_cli("test", str(tmp_path / "wrong.yaml"), "--dir", str(bundle)),
        policy_cli("test", str(tmp_path / "bad.yaml"), "--dir", str(bundle)),
    )
    assert held.returncode == 0, held.stdout + held.stderr
    assert held.stdout.splitlines() == [
        "ok        a small refund is allowed: allow (policies refunds-within-budget)",
        "ok        over the budget, finance decides: ask (policies refunds-over-budget)",
        "ok        the bot's own run, at night: allow (policies refunds-within-budget)",
        "ok        a message is no refund: none (no policy applies)",
        f"4 cases: 4 ok, 0 mismatched (bundle {load_bundle(bundle).short_hash})",
    ]
    assert wrong.returncode == 1, wrong.stdout + wrong.stderr
    assert ("MISMATCH  the whole budget in one refund: expected allow, got ask (policies refunds-over-budget)"
            in wrong.stdout.splitlines()), wrong.stdout
    assert "5 cases: 4 ok, 1 mismatched" in wrong.stdout
    assert bad.returncode == 2 and bad.stdout == "" and "Traceback" not in bad.stderr, bad
    assert bad.stderr == (f"error: {tmp_path / 'bad.yaml'}: case 2 (over the budget, finance decides): window"
                          " 'refunds_7d' is not declared in the bundle's policy.yaml (refunds_24h)\n")


VOTES = """
- name: a big refund approved in Teams
  person: teams:0d9c3b54-0000-4000-8000-000000000001
  surface: teams
  action: refund
  args: {amount_cents: 2000000}
  expect: deny
  ids: [big-refunds-decided-in-slack]
- name: the same approved in Slack
  person: U0BOB
  action: refund
  args: {amount_cents: 2000000}
  expect: none
- name: rejected in Teams
  person: U0BOB
  surface: teams
  vote: reject
  action: refund
  args: {amount_cents: 2000000}
  expect: none
"""


async def test_fixtures_hold_votes_for_the_policies_about_who_decides(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "policies", {"refunds.cedar": REFUNDS, "policy.yaml": REFUND_WINDOWS,
                                                  "deciders.cedar": BIG_REFUNDS_IN_SLACK})
    (tmp_path / "votes.yaml").write_text(CASES + VOTES)
    (tmp_path / "bad.yaml").write_text(VOTES.replace("vote: reject", "vote: abstain"))
    (tmp_path / "windowed.yaml").write_text(VOTES + "  window: {refunds_24h: 1}\n")
    held, bad, windowed = await asyncio.gather(
        policy_cli("test", str(tmp_path / "votes.yaml"), "--dir", str(bundle)),
        policy_cli("test", str(tmp_path / "bad.yaml"), "--dir", str(bundle)),
        policy_cli("test", str(tmp_path / "windowed.yaml"), "--dir", str(bundle)))
    assert held.returncode == 0, held.stdout + held.stderr
    assert held.stdout.splitlines()[4:] == [
        "ok        a big refund approved in Teams: deny (policies big-refunds-decided-in-slack)",
        "ok        the same approved in Slack: none (no policy applies)",
        "ok        rejected in Teams: none (no policy applies)",
        f"7 cases: 7 ok, 0 mismatched (bundle {load_bundle(bundle).short_hash})",
    ]
    assert bad.returncode == 2 and bad.stderr == (
        f"error: {tmp_path / 'bad.yaml'}: case 3 (rejected in Teams): vote: use approve, reject, revise\n"), bad
    assert windowed.returncode == 2 and "unknown key 'window' in a vote" in windowed.stderr, windowed


async def test_replay_shows_which_asks_of_a_real_history_a_refund_budget_would_decide_otherwise(
    policy_worker: StartPolicyWorker, slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    worker = await policy_worker({})  # no policy of its own: every refund asks a person
    support = Client(worker, (await new_key(worker, "support-bot")).key)
    billing = Client(worker, (await new_key(worker, "billing-bot")).key)
    asked = {}
    for name, client, body in (("first", support, refund(20000)), ("over", support, refund(40000))):
        status, answer = await client.ask(body)
        assert status == 201 and answer["status"] == "pending", answer
        asked[name] = answer["id"]
    status, _, _ = await support.call("DELETE", f"/api/v1/approvals/{asked['over']}")
    assert status in (200, 202, 204), status

    async def withdrawn() -> bool:
        entries = await worker.services.store.audit.entries()
        return any(e.get("event") == "decision" and e.get("approval") == asked["over"] for e in entries)

    await until(withdrawn, what="the withdrawal's audit entry")
    for name, client, body in (("after", support, refund(25000)), ("email", support, tool_ask()),
                               ("billing", billing, refund(45000))):
        status, answer = await client.ask(body)
        assert status == 201 and answer["status"] == "pending", answer
        asked[name] = answer["id"]
    candidate = write_bundle(tmp_path / "candidate", {"refunds.cedar": REFUNDS, "policy.yaml": REFUND_WINDOWS})
    text, as_json, elsewhere = await asyncio.gather(
        policy_cli("replay", "--since", "1d", "--dir", str(candidate), redis_url=redis_url),
        policy_cli("replay", "--format", "json", redis_url=redis_url, POLICY_DIR=str(candidate)),
        policy_cli("replay", "--dir", str(candidate), redis_url=redis_url, REDIS_KEY_PREFIX="not-the-bots"),
    )
    assert as_json.returncode == 0, as_json.stderr
    replayed = json.loads(as_json.stdout)
    # the withdrawn $400 stopped counting: $200 + $250 fit in the budget; another agent has a budget of its own
    changed = {row["approval"]: (row["before"], row["after"], row["ids"]) for row in replayed["rows"]}
    within = ("ask (a person)", "allow", ["refunds-within-budget"])
    assert changed == {asked["first"]: within, asked["after"]: within, asked["billing"]: within}, replayed
    assert (replayed["asks"], replayed["before"], replayed["after"]) == (5, {"ask": 5}, {"allow": 3, "ask": 2})
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[-1] == "allow 0 → 3, ask 5 → 2, deny 0 → 0; 3 of 5 asks change", lines
    table = "\n".join(lines[1:-1])
    assert table.splitlines()[0].split() == ["at", "(UTC)", "approval", "principal", "action", "before", "after"]
    for name in ("first", "after", "billing"):
        row = next(line for line in table.splitlines() if asked[name] in line)
        assert row.split()[3:] == ["refund", "ask", "(a", "person)", "allow", "(policy", "refunds-within-budget)"]
    assert asked["over"] not in table and asked["email"] not in table
    assert elsewhere.returncode == 1 and "no audit log found under the key prefix" in elsewhere.stderr, elsewhere


async def test_explain_names_the_policy_its_reason_the_arguments_and_the_window_it_read(
    policy_worker: StartPolicyWorker, slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    files = {"refunds.cedar": REFUNDS, "policy.yaml": REFUND_WINDOWS}
    worker = await policy_worker(files)
    client = Client(worker, (await new_key(worker, "support-bot")).key)
    _, allowed = await client.ask(refund(35000))
    _, asked = await client.ask(refund(20000))
    assert (allowed["status"], asked["status"]) == ("approved", "pending"), (allowed, asked)
    active = write_bundle(tmp_path / "active", files)
    looser = write_bundle(tmp_path / "looser", {"refunds.cedar": REFUNDS.replace("50000", "100000"),
                                                "policy.yaml": REFUND_WINDOWS})
    today, otherwise, missing = await asyncio.gather(
        policy_cli("explain", asked["id"], redis_url=redis_url, POLICY_DIR=str(active)),
        policy_cli("explain", asked["id"], "--dir", str(looser), redis_url=redis_url),
        policy_cli("explain", "a-nosuchapproval", "--dir", str(active), redis_url=redis_url),
    )
    assert today.returncode == 0, today.stderr
    said = today.stdout.splitlines()
    bundle = load_bundle(active)
    assert said[0].startswith(f'approval {asked["id"]}: Agent::"support-bot" asked refund in C0SALES at '), said
    assert '  args       {"amount_cents": 20000, "order": "A-1"}' in said, said
    assert "  requester  U0ALICE" in said
    assert "  window     refunds_24h = 35000 (sum of args.amount_cents per principal, action over 1d)" in said, said
    assert f"decided then: ask (policy refunds-over-budget), bundle {bundle.short_hash} (the active bundle)" in said
    over = line_of(REFUNDS, '@id("refunds-over-budget")')
    assert f"  refunds-over-budget  forbid → ask  refunds.cedar:{over}; approvers S0FINANCE; quorum 2" in said, said
    assert ("    reason  would exceed $500 in 24 h (spent {window.refunds_24h|usd})  →  would exceed $500 in 24 h"
            " (spent $350)") in said, said
    assert said[-1] == (f"today: the active bundle {bundle.short_hash}, with the values of then, decides the same:"
                        " ask (policies refunds-over-budget)"), said
    assert otherwise.returncode == 0, otherwise.stderr
    assert "  refunds-over-budget: not in the active bundle" not in otherwise.stdout  # same ids, another bundle
    assert f"the active bundle is {load_bundle(looser).short_hash}" in otherwise.stdout, otherwise.stdout
    assert otherwise.stdout.splitlines()[-1] == (f"today: the active bundle {load_bundle(looser).short_hash}, with the"
                                                 " values of then, decides otherwise: allow (policies"
                                                 " refunds-within-budget)")
    assert missing.returncode == 1, missing
    assert missing.stderr == "error: no approval 'a-nosuchapproval' in Redis or its audit log\n", missing.stderr
