"""The app's installations (Slack's OAuth install, one per workspace or, org-wide, per Grid organisation) and the
OAuth states of installs under way. The records are JSON whose tokens the caller sealed (`bot.core.sealing`): this
store never sees a token in the clear. Bolt's stores over these are `bot/slack/installations.py`."""

from __future__ import annotations

import json
import re
from typing import Any

from bot.core.documents import loads_object
from bot.store.connection import aw
from bot.store.shared import Repository

INSTALLATION_ID = re.compile(r"^[TE][A-Z0-9]{1,30}$")  # a team (T…) or an organisation (E…)
STATE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")


class Installations(Repository):
    """`installation:<id>` records and the `installations` set; `oauthstate:<state>` for installs under way."""

    async def save(self, installation_id: str, record: dict[str, Any]) -> None:
        """Keep (or replace) an installation's record."""
        if not INSTALLATION_ID.fullmatch(installation_id):
            raise ValueError(f"not a team or organisation id: {installation_id[:40]!r}")
        async with self._s.redis.pipeline(transaction=True) as pipe:
            pipe.set(self._k.installation(installation_id), json.dumps(record, sort_keys=True))
            pipe.sadd(self._k.installations, installation_id)
            await pipe.execute()

    async def find(self, installation_id: str) -> dict[str, Any] | None:
        """An installation's record, None when there is none (or the id is not one)."""
        if not INSTALLATION_ID.fullmatch(installation_id):
            return None
        return loads_object(await aw(self._s.redis.get(self._k.installation(installation_id))))

    async def delete(self, installation_id: str) -> bool:
        """Forget an installation; whether there was one."""
        if not INSTALLATION_ID.fullmatch(installation_id):
            return False
        async with self._s.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._k.installation(installation_id))
            pipe.srem(self._k.installations, installation_id)
            deleted, _ = await pipe.execute()
        return bool(deleted)

    async def ids(self) -> list[str]:
        """Every installation's id, sorted."""
        return sorted(str(m) for m in await aw(self._s.redis.smembers(self._k.installations)))

    async def issue_state(self, state: str, *, seconds: int) -> None:
        """Remember an OAuth state for `seconds` (the install's redirect takes it once)."""
        if not STATE.fullmatch(state):
            raise ValueError("an OAuth state is 16 to 128 URL-safe characters")
        await self._s.redis.set(self._k.oauth_state(state), "1", ex=seconds)

    async def consume_state(self, state: str) -> bool:
        """Whether `state` was issued and not yet taken (taking it)."""
        if not STATE.fullmatch(state):
            return False
        return await aw(self._s.redis.getdel(self._k.oauth_state(state))) is not None
