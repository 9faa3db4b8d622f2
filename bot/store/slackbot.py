"""What Slackbot's MCP endpoint (`/slack/mcp`) keeps: each request's signature, once (a replayed request is refused
while its signature could still pass the 5-minute window), and the result of a call that ran after its approval,
for its requester to fetch (`approval_result`) for a day."""

from __future__ import annotations

import json
from typing import Any

from bot.store.connection import aw
from bot.store.shared import Repository

SEEN_SECONDS = 600  # longer than a signature's window (300 s either side of now): a replay is seen while it could pass
RESULT_SECONDS = 86400  # SLACKBOT_RESULT_SECONDS: how long a call's result may be fetched


class SlackbotCalls(Repository):
    """Signatures seen and results kept (see the module docstring)."""

    async def first_time(self, signature: str) -> bool:
        """True the first time `signature` is seen (then kept SEEN_SECONDS); False for a replay."""
        return bool(await self._s.redis.set(self._k.slackbot_seen(signature), "1", nx=True, ex=SEEN_SECONDS))

    async def keep_result(self, approval_id: str, result: dict[str, Any]) -> None:
        """The result of `approval_id`'s call (the upstream's answer, or why it did not run), for RESULT_SECONDS."""
        await self._s.redis.set(self._k.slackbot_result(approval_id), json.dumps(result), ex=RESULT_SECONDS)

    async def result(self, approval_id: str) -> dict[str, Any] | None:
        """The result kept for `approval_id`, or None (not run yet, or expired)."""
        raw = await aw(self._s.redis.get(self._k.slackbot_result(approval_id)))
        if raw is None:
            return None
        found = json.loads(raw)
        return found if isinstance(found, dict) else None
