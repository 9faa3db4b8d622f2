"""Policies from a test: the refund budget of issue #42 (Cedar and its window), the policy page's one about who
decides (`BIG_REFUNDS_IN_SLACK`), a refund tool's ask, a folder of
policy files written for a worker's POLICY_DIR (the `policy_worker` fixture, tests/conftest.py), and `WAYS_IN`: the
one bundle every way in is decided by in tests/policy/test_ways_in.py and tests/agents/frameworks/test_contract.py (the
Approvals API, the MCP gateway, each framework integration, Claude Code's hook, the bot's own /agent runs); and
`policy_cli`, `python -m bot policy` run in this process (tests/support/cli.py); `READ_FIRST`, a policy whose
e-mails are approved only once their details were opened (`@require_details`: Slack's Details, the pages)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.policy.engine import PolicyEngine
from tests.conftest import ALICE, StartPolicyWorker
from tests.support.cli import Ran, bot_command

__all__ = ["BIG_REFUNDS_IN_SLACK", "READ_FIRST", "REFUNDS", "REFUND_WINDOWS", "WAYS_IN", "StartPolicyWorker",
           "policy_cli", "quick_reloads", "refund", "write_bundle"]

REFUNDS = '''
@id("refunds-within-budget")
permit (principal, action == Action::"refund", resource)
when { context.args.amount_cents + context.window.refunds_24h <= 50000 };

@id("refunds-over-budget")
@outcome("ask")
@approvers("S0FINANCE")
@quorum("2")
@reason("would exceed $500 in 24 h (spent {window.refunds_24h|usd})")
forbid (principal, action == Action::"refund", resource)
when { context.args.amount_cents + context.window.refunds_24h > 50000 };
'''
REFUND_WINDOWS = """windows:
  refunds_24h: {sum: args.amount_cents, per: [principal, action], over: 24h}
"""

# the example of docs/operators/policies.md "Policies about who decides": a policy about the decider, not the asker
BIG_REFUNDS_IN_SLACK = '''
@id("big-refunds-decided-in-slack")
@reason("a refund over $10,000 is approved in Slack, where step-up and attestations are")
forbid (principal is Person, action == Action::"refund", resource)
when { principal.surface == "teams" && context.vote == "approve" && context.args.amount_cents > 1000000 };
'''

MAIL = 'action in [Action::"send_email", Action::"mcp__mail__send_email"]'  # the Claude Agent SDK's is the MCP name
WAYS_IN = f'''
@id("mail-our-domain")
permit (principal, {MAIL}, resource)
when {{ context.args has to && context.args.to like "*@example.com" }};

@id("mail-no-rivals")
@reason("we never email a competitor ({{args.to}})")
forbid (principal, {MAIL}, resource)
when {{ context.args has to && context.args.to like "*@rival.com" }};

@id("mail-elsewhere")
@outcome("ask")
@reason("{{args.to}} is outside example.com: a person checks it")
forbid (principal, {MAIL}, resource)
when {{ context.args has to && !(context.args.to like "*@example.com") && !(context.args.to like "*@rival.com") }};

@id("interns-send-nothing")
@reason("interns do not send email")
forbid (principal == Agent::"intern", {MAIL}, resource);

@id("reads")
permit (principal, action in [Action::"list_inbox", Action::"Read"], resource);

@id("no-rm-rf")
@reason("destructive commands never run ({{args.command}})")
forbid (principal, action == Action::"Bash", resource)
when {{ context.args has command && context.args.command like "*rm -rf*" }};
'''


def write_bundle(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


QUICK_LOOKS = 0.02  # seconds between two looks at the files (a worker's: 1 s)
QUICK_SETTLE = 0.25  # seconds a change stays the same before it is loaded (a worker's: 5 s)


def quick_reloads(engine: PolicyEngine) -> PolicyEngine:
    """`engine` looking at its files every 20 ms and loading a change once it stayed the same for 0.25 s, instead of
    every second and after 5 s: a test of what a reload does (the new bundle, the last good one kept, the audit
    entries) waits a moment, not seconds. The settle time itself is tested at the worker's own figures, against
    writers that pause (the slow tests of tests/policy/test_reload.py)."""
    engine.reload_seconds, engine.settle_seconds = QUICK_LOOKS, QUICK_SETTLE
    return engine


def refund(cents: int, **extra: Any) -> dict[str, Any]:
    return {"kind": "tool", "title": "Refund an order", "requester": ALICE,
            "tool": {"name": "refund", "arguments": {"order": "A-1", "amount_cents": cents}}, **extra}


async def policy_cli(*args: str, redis_url: str = "redis://127.0.0.1:9/0", **env: str) -> Ran:
    """`python -m bot policy <args>` with REDIS_URL and `env` as its whole environment (in this process)."""
    return await bot_command("policy", *args, environ={"REDIS_URL": redis_url, **env})


READ_FIRST = '''
@id("mail-read-first")
@outcome("ask")
@require_details("true")
@reason("a person reads the email first")
forbid (principal, action == Action::"send_email", resource);
'''
