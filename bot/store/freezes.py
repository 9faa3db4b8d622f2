"""Frozen scopes (`/agent freeze`, `python -m bot freeze`): while a scope is frozen, every new ask in it is refused at
once (bot/approvals/deciders/freeze.py), its pending approvals cannot be approved (the decide step reads `frozen`,
lua/lib/decide.lua) and receipts of calls in it cannot be used. A scope is `all`, `channel:<C…>`, `key:<name>` (an
API key's asks) or `agent:<name>` (the bot's own runs of that agent team). Unfreezing needs a second admin
(`lua/unfreeze.lua`, four eyes) or the operator's CLI. Global: every tenant's asks read the one hash."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass

from bot.core.channel_options import CHANNEL
from bot.core.key_records import KEY_NAME
from bot.store.connection import aw
from bot.store.shared import Shared

UNFREEZE_ASK_SECONDS = 3600  # a first admin's unfreeze waits this long for a second admin's
MAX_FREEZE_REASON = 300
AGENT_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,39}")


def parse_scope(args: list[str]) -> tuple[str, list[str]] | None:
    """A freeze's scope at the front of `args` (words of `/agent freeze` as Slack sent them, or of the CLI) and the
    words after it; None when there is none: `all`, a channel (`channel:C…`: as Slack links it, or its id), `key
    NAME` (`key:NAME`) or `agent NAME` (`agent:NAME`). Pure."""
    if not args:
        return None
    head = args[0].lower()
    if head == "all":
        return "all", args[1:]
    if head in ("key", "agent") and len(args) >= 2:
        name = args[1]
        valid = KEY_NAME.fullmatch(name) if head == "key" else AGENT_NAME.fullmatch(name)
        return (f"{head}:{name}", args[2:]) if valid else None
    channel = CHANNEL.fullmatch(args[0])
    if channel is not None:
        return f"channel:{channel.group(1) or channel.group(2)}", args[1:]
    return None


@dataclass(frozen=True, slots=True)
class Frozen:
    """One frozen scope: why, by whom (a Slack user id, or `cli:<who>@<host>`) and since when."""

    scope: str
    reason: str
    by: str
    at: float


class Freezes:
    """The frozen scopes (the module docstring)."""

    def __init__(self, shared: Shared) -> None:
        self._s = shared
        self._k = shared.keys

    async def all(self) -> dict[str, Frozen]:
        """Every frozen scope, by scope (one Redis command)."""
        raw = await aw(self._s.redis.hgetall(self._k.frozen))
        found: dict[str, Frozen] = {}
        for scope, value in raw.items():
            try:
                held = json.loads(value)
                found[str(scope)] = Frozen(str(scope), str(held["reason"]), str(held["by"]), float(held["at"]))
            except (ValueError, KeyError, TypeError, RecursionError):
                found[str(scope)] = Frozen(str(scope), "", "", 0.0)  # unreadable: still frozen (never fails open)
        return found

    async def freeze(self, scope: str, *, reason: str, by: str) -> bool:
        """Freeze `scope` (True), or say it was frozen already (False: its reason stays)."""
        held = json.dumps({"reason": reason, "by": by, "at": time.time()})
        return bool(await aw(self._s.redis.hsetnx(self._k.frozen, scope, held)))

    async def unfreeze(self, scope: str, *, by: str, direct: bool = False) -> tuple[str, str]:
        """Unfreeze `scope` four eyes (`lua/unfreeze.lua`): ("asked", by), ("same", by), ("ok", first admin) or
        ("not_frozen", ""); `direct` (the CLI) unfreezes at once."""
        status, asked_by = await self._s.script("unfreeze")(
            keys={"frozen": self._k.frozen, "asks": self._k.unfreeze_asks},
            args={"scope": scope, "by": by, "now": repr(time.time()), "direct": "1" if direct else "",
                  "ask_ttl": str(UNFREEZE_ASK_SECONDS)},
        )
        return str(status), str(asked_by)


def frozen_scope(frozen: dict[str, Frozen], *, channel: str, key: str = "", agent: str = "") -> Frozen | None:
    """The frozen scope an ask of `channel` (by API key `key`, of agent team `agent`) is in, if any (pure)."""
    for scope in ("all", f"channel:{channel}", f"key:{key}" if key else "", f"agent:{agent}" if agent else ""):
        if scope and scope in frozen:
            return frozen[scope]
    return None


def frozen_words(held: Frozen) -> str:
    """What a refused ask is told: "frozen: <reason> (scope …, by …)"."""
    reason = held.reason or "no reason given"
    by = f", by {held.by}" if held.by else ""
    return f"frozen: {reason} (scope {held.scope}{by})"
