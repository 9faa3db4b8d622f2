"""The permission channel (`agent-approvals-claude-code channel`) over its MCP protocol, as Claude Code speaks it:
newline-delimited JSON-RPC on the process's stdio. It declares `experimental['claude/channel']` and
`['claude/channel/permission']`; each relayed `notifications/claude/channel/permission_request` becomes a card,
and the card's decision comes back as `notifications/claude/channel/permission` `{request_id, behavior}`. A "yes
<id>" typed in Slack is no verdict; a session that ends withdraws its cards still pending."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import pytest

from bot.devslack.server import SlackStandIn
from tests.conftest import APPROVALS, BOB, Worker, block_texts
from tests.support.hitl import click, current, nth_card, reject, until

pytestmark = pytest.mark.slow  # the channel as a `python -m agent_approvals.claude_code` process

REQUEST = "notifications/claude/channel/permission_request"
VERDICT = "notifications/claude/channel/permission"


class Session:
    """Claude Code's side of the channel: a JSON-RPC peer on the channel process's stdio."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.notifications: list[dict[str, Any]] = []
        self.responses: dict[int, dict[str, Any]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            message = json.loads(line)
            if "id" in message and "method" not in message:
                self.responses[message["id"]] = message
            elif "method" in message and "id" not in message:
                self.notifications.append(message)

    async def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps({"jsonrpc": "2.0", **message}) + "\n").encode())
        await self.process.stdin.drain()

    async def initialize(self) -> dict[str, Any]:
        await self.send({"id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "claude-code",
                                                                                 "version": "2.1.197"}}})
        answer: dict[str, Any] = await until(lambda: self.responses.get(1), within=30, what="initialize answered")
        await self.send({"method": "notifications/initialized"})
        return answer

    async def relay(self, request_id: str, tool: str, description: str, preview: dict[str, Any]) -> None:
        await self.send({"method": REQUEST, "params": {"request_id": request_id, "tool_name": tool,
                                                        "description": description,
                                                        "input_preview": json.dumps(preview)}})

    def verdicts(self) -> list[dict[str, Any]]:
        return [n["params"] for n in self.notifications if n["method"] == VERDICT]

    async def close(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        code = await asyncio.wait_for(self.process.wait(), 30)
        await self._reader
        return code


async def channel(bot: Worker, key: str) -> Session:
    env = {**os.environ, "AGENT_APPROVALS_URL": bot.url, "AGENT_APPROVALS_KEY": key}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent_approvals.claude_code", "channel", env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    return Session(process)


async def test_a_relayed_prompt_is_a_card_and_its_decision_answers_it(
    emailer: tuple[Worker, str], slack: SlackStandIn
) -> None:
    bot, key = emailer
    session = await channel(bot, key)
    try:
        answer = await session.initialize()
        experimental = answer["result"]["capabilities"]["experimental"]
        assert set(experimental) == {"claude/channel", "claude/channel/permission"}
        await session.relay("tbxkq", "Bash", "Publish the site", {"command": "npm run publish"})
        card = await nth_card(slack, 1, within=20)
        text = block_texts(card)
        assert "Claude Code: Bash: Publish the site" in text and "npm run publish" in text
        slack.post_user_message(user=BOB, channel=APPROVALS, text="yes tbxkq", thread_ts=card["ts"])  # typed
        await reject(slack, card, user=BOB, reason="not before the release notes")
        await until(session.verdicts, within=20, what="the verdict")
        assert session.verdicts() == [{"request_id": "tbxkq", "behavior": "deny"}]

        await session.relay("hoztn", "Bash", "Run the tests", {"command": "npm test"})
        await click(slack, await nth_card(slack, 2, within=20), "approval_approve", user=BOB)
        await until(lambda: len(session.verdicts()) == 2, within=20, what="the second verdict")
        assert session.verdicts()[1] == {"request_id": "hoztn", "behavior": "allow"}

        await session.relay("mwpfa", "Write", "Write the changelog", {"file_path": "/srv/CHANGELOG.md"})
        third = await nth_card(slack, 3, within=20)
    finally:
        code = await session.close()
    assert code == 0 and len(session.verdicts()) == 2  # nothing answered for the third
    await until(lambda: "withdrawn" in block_texts(current(slack, third)).lower(), within=20,
                what="the pending card withdrawn")
