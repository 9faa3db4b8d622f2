"""Who is on call now in each on-call schedule (issue 90), kept a short while (`ONCALL_CACHE_SECONDS`, a minute by
default) under `{p}:oncall:<schedule>` so that every worker reads the same answer and the provider is asked once a
minute per schedule, not once per approval. Only an answer is kept (a JSON list of person ids); "cannot answer" is
never kept: the next lookup asks again. No email or token is kept here: the person ids only."""

from __future__ import annotations

import json

from bot.store.connection import aw
from bot.store.shared import Shared


class OnCallCache:
    def __init__(self, shared: Shared) -> None:
        self._s = shared

    async def get(self, schedule: str) -> list[str] | None:
        """The people kept as on call now in `schedule`; None when nothing is kept (or what is kept is unreadable)."""
        raw = await aw(self._s.redis.get(self._s.keys.oncall(schedule)))
        if raw is None:
            return None
        try:
            found = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(found, list) or not all(isinstance(person, str) for person in found):
            return None
        return found

    async def keep(self, schedule: str, people: list[str], *, seconds: int) -> None:
        """Keep `people` as on call now in `schedule` for `seconds`."""
        await aw(self._s.redis.set(self._s.keys.oncall(schedule), json.dumps(people), ex=seconds))
