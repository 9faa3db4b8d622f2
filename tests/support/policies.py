"""Policy bundles the tests write to a POLICY_DIR (bot/policy/), and `WAYS_IN`: the one bundle every way in is
decided by in tests/policy/test_ways_in.py and tests/agents/test_contract.py (the Approvals API, the MCP gateway,
each framework integration, Claude Code's hook, the bot's own /agent runs)."""

from __future__ import annotations

from pathlib import Path

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
    """`files` ({name: text}) written to `folder` (made), a POLICY_DIR."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder
