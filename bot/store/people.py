"""Who a Slack user is, as a worker last asked Slack (`users.info`: their team, organisation, whether a guest;
bot/slack/directory.py), kept an hour for every worker: a click on a worker that never saw its person is checked
without asking Slack again (`bot/slackapp/members.py`)."""

from __future__ import annotations

from bot.store.shared import Shared


class People:
    def __init__(self, shared: Shared) -> None:
        self._s = shared

    async def get(self, user: str) -> str | None:
        """The record kept for `user` (JSON), or None."""
        found = await self._s.redis.get(self._s.keys.person(user))
        return found.decode() if isinstance(found, bytes) else found

    async def put(self, user: str, record: str, *, seconds: int) -> None:
        await self._s.redis.set(self._s.keys.person(user), record, ex=max(1, seconds))
