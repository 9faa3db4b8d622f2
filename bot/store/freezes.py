"""Frozen scopes (`/agent freeze`, `python -m bot freeze`): while a scope is frozen, every new ask in it is refused at
once (bot/approvals/deciders/freeze.py), its pending approvals cannot be approved (the decide step reads `frozen`,
lua/lib/decide.lua) and receipts of calls in it cannot be used. A scope is `all`, `channel:<C…>`, `key:<name>` (an
API key's asks) or `agent:<name>` (the bot's own runs of that agent team). Unfreezing needs a second admin
(`lua/unfreeze.lua`, four eyes) or the operator's CLI. Global: every tenant's asks read the one hash (sharded, each
workspace's steps read its copy, written before a freeze returns: bot/store/freeze_copies.py).

A freeze drill (bot/cli/drill.py) holds a scope as a freeze whose record names the drill (`drill`, `until`), one
drill at a time (its lease, renewed while it runs: `take_drill`). A real freeze asked while a drill holds the scope
is recorded in that record (`stands`, lua/freeze.lua) and the drill's end lifts only its own hold
(lua/drill_end.lua): the real freeze stands after the drill."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass

from bot.core.channel_options import CHANNEL
from bot.core.key_records import KEY_NAME
from bot.core.records import ApprovalRecord
from bot.store.connection import aw
from bot.store.freeze_copies import FreezeCopies
from bot.store.shared import Repository

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
    """One frozen scope: why, by whom (a Slack user id, or `cli:<who>@<host>`) and since when; held by a freeze drill,
    its id (`drill`) and when its hold ends (`until`, epoch s), and whether a real freeze asked meanwhile stands after
    it (`stands`: then `reason`, `by` and `at` are that freeze's)."""

    scope: str
    reason: str
    by: str
    at: float
    drill: str = ""
    until: float = 0.0
    stands: bool = False


@dataclass(frozen=True, slots=True)
class Froze:
    """What a freeze did: `status` "frozen" (frozen now), "stands" (a drill holds the scope: this freeze is recorded
    and stands after the drill) or "already" (nothing changed); `held`: the freeze found (None when frozen now)."""

    status: str
    held: Frozen | None = None

    def __bool__(self) -> bool:
        """True when this freeze counts: frozen now, or recorded to stand after a drill."""
        return self.status != "already"


@dataclass(frozen=True, slots=True)
class Drilling:
    """The running freeze drill, as its lease says: its id, who runs it, its scope and since when."""

    drill: str
    by: str
    scope: str
    at: float


class Freezes(Repository):
    """The frozen scopes (the module docstring)."""

    @property
    def copies(self) -> FreezeCopies:
        """Each workspace's copy (sharded)."""
        return FreezeCopies(self._s)

    async def all(self) -> dict[str, Frozen]:
        """Every frozen scope, by scope (one Redis command)."""
        raw = await aw(self._s.redis.hgetall(self._k.frozen))
        return {str(scope): _frozen(str(scope), str(value)) for scope, value in raw.items()}

    async def refusal_words(self, record: ApprovalRecord | None) -> str:
        """Why an Approve of `record` was refused as frozen (the scope's reason, who: read once the decide step
        refused it), else "" (not frozen: the step found its workspace's copy not spread yet, an unfreeze's)."""
        if record is None:
            return ""
        held = frozen_scope(await self.all(), channel=record.origin_channel, key=record.asked_by, agent=record.agent)
        return frozen_words(held) if held is not None else ""

    async def freeze(self, scope: str, *, reason: str, by: str, drill: str = "", until: float = 0.0) -> Froze:
        """Freeze `scope` (lua/freeze.lua): frozen now, recorded to stand after the drill that holds it, or frozen
        already (its reason stays). `drill`: a freeze drill's hold (its id), until `until`."""
        held: dict[str, object] = {"reason": reason, "by": by, "at": time.time()}
        if drill:
            held.update(drill=drill, until=until)
        k = self._k
        status, found = await self._s.script("freeze")(
            keys={"frozen": k.frozen, "spread": k.frozen_spread, "at": k.frozen_at, "changed": k.frozen_changed},
            args={"scope": scope, "held": json.dumps(held), "told": k.frozen_told})
        await self.copies.spread()  # (sharded: set only once in every workspace's copy)
        return Froze(str(status), _frozen(scope, str(found)) if found else None)

    async def end_drill(self, scope: str, *, drill: str) -> tuple[str, str]:
        """End drill `drill`'s hold of `scope` (lua/drill_end.lua): ("lifted", ""), ("stands", who froze it: a real
        freeze asked meanwhile stays) or ("not_ours", "": not held by this drill, nothing changed)."""
        status, by = await self._s.script("drill_end")(keys=self._changing, args={"scope": scope, "drill": drill})
        await self.copies.spread()
        return str(status), str(by)

    @property
    def _changing(self) -> dict[str, str]:
        """The keys of a step that lifts a scope (an unfreeze, a drill's end): the change numbered."""
        k = self._k
        return {"frozen": k.frozen, "asks": k.unfreeze_asks, "spread": k.frozen_spread, "changed": k.frozen_changed}

    async def take_drill(self, drilling: Drilling, *, seconds: float) -> Drilling | None:
        """Take the freeze drill's lease for `seconds` (one drill at a time): None when taken, else the running
        drill (lua/drill_lease.lua)."""
        held = json.dumps({"drill": drilling.drill, "by": drilling.by, "scope": drilling.scope, "at": drilling.at})
        taken, running = await self._drill_lease("take", drill=drilling.drill, held=held, seconds=seconds)
        return None if taken else _drilling(running)

    async def renew_drill(self, drill: str, *, seconds: float) -> bool:
        """Keep drill `drill`'s lease `seconds` more; False when it holds it no more (it expired)."""
        taken, _ = await self._drill_lease("renew", drill=drill, seconds=seconds)
        return taken

    async def release_drill(self, drill: str) -> None:
        """Give up drill `drill`'s lease (if it still holds it)."""
        await self._drill_lease("release", drill=drill)

    async def _drill_lease(self, op: str, *, drill: str, held: str = "", seconds: float = 0) -> tuple[bool, str]:
        taken, running = await self._s.script("drill_lease")(
            keys={"lease": self._k.freeze_drill},
            args={"op": op, "drill": drill, "held": held, "ms": str(max(1, int(seconds * 1000)))})
        return int(taken) == 1, str(running)

    async def unfreeze(self, scope: str, *, by: str, direct: bool = False) -> tuple[str, str]:
        """Unfreeze `scope` four eyes (`lua/unfreeze.lua`): ("asked", by), ("same", by), ("ok", first admin) or
        ("not_frozen", ""); `direct` (the CLI) unfreezes at once."""
        status, asked_by = await self._s.script("unfreeze")(
            keys=self._changing,
            args={"scope": scope, "by": by, "now": repr(time.time()), "direct": "1" if direct else "",
                  "ask_ttl": str(UNFREEZE_ASK_SECONDS)},
        )
        if status == "ok":
            await self.copies.spread()
        return str(status), str(asked_by)


def _frozen(scope: str, value: str) -> Frozen:
    """A frozen scope's record read (a real freeze recorded during a drill: that freeze, held by the drill)."""
    try:
        held = json.loads(value)
        drill, until = str(held.get("drill") or ""), float(held.get("until") or 0)
        stands = held.get("stands")
        if isinstance(stands, dict):
            held = stands
        return Frozen(scope, str(held["reason"]), str(held["by"]), float(held["at"]), drill=drill, until=until,
                      stands=isinstance(stands, dict))
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return Frozen(scope, "", "", 0.0)  # unreadable: still frozen (never fails open)


def _drilling(value: str) -> Drilling:
    """The running drill's lease record read."""
    try:
        held = json.loads(value)
        return Drilling(str(held["drill"]), str(held["by"]), str(held["scope"]), float(held["at"]))
    except (ValueError, KeyError, TypeError, RecursionError):
        return Drilling("", "", "", 0.0)


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
