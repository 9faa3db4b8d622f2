"""Claude Code's own tool calls decided in Slack (extra `claude-code`; the hook needs nothing more than the client).

    hook.py       the `PreToolUse` hook's core: what a hook input asks (`HookCall`: the card's title from the tool
                  and the project), `decide` (deny-then-grant past `--wait`, never fail open), `answer`; the bot's
                  HTTP hook answers through it too; an approved file change whose file changed since is denied and
                  asked again
    edits.py      Claude Code's calls as artefacts: an Edit, MultiEdit, Write or NotebookEdit as the file change it
                  makes to the file on disk (as Claude Code applies it), a Bash call as its command
    settings.py   the hook merged into (and taken out of) `.claude/settings.json`, nothing else touched
    channel.py    the permission channel: an MCP server for Claude Code's Channels that turns each relayed
                  permission prompt into a card and answers it with the card's decision (needs `mcp`)
    __main__.py   `agent-approvals-claude-code hook | install | channel`
"""

from __future__ import annotations

from agent_approvals.claude_code.hook import AGENT, WAIT, HookCall, answer, decide

__all__ = ["AGENT", "WAIT", "HookCall", "answer", "decide"]
