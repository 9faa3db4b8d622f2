"""The freeze's link, first in the chain: while an admin has frozen a scope (`/agent freeze`, `python -m bot freeze`;
bot/store/freezes.py) every new ask in it is refused at once, before any policy, mode or rule is read: stored
rejected (`auto_rejected`, `by` "freeze", audited naming the scope, the reason and who froze it), with the words
"frozen: <reason>" as its feedback, so every way in (a run's step, the Approvals API, `audit/allowed`, the MCP
gateway, the Claude Code hook, workflows) answers the same. A scope: `all`, `channel:<the ask's channel>`,
`key:<the asking API key>`, `agent:<the bot's own run's agent team>`. The frozen scopes are read once per walk (one
Redis command); an unreadable store refuses (a gate never fails open: the read raises)."""

from __future__ import annotations

import time
from dataclasses import replace

from agent_approvals.approver import Decision

from bot.approvals.chain import Decided, Step
from bot.core.verdicts import FROZEN_BY as FROZE
from bot.store import Store, persistently
from bot.store.freezes import frozen_scope, frozen_words


class Freeze:
    """The freeze's link (the module docstring)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def decide(self, step: Step) -> Step | Decided:
        ask = step.ask
        agent = ask.run.preset if ask.program is None else ""
        step = replace(step, approval=replace(step.approval, agent=agent))
        frozen = await persistently(self._store.freezes.all, what="reading the frozen scopes")
        if not frozen:
            return step
        held = frozen_scope(frozen, channel=ask.run.channel, key=step.approval.asked_by, agent=agent)
        if held is None:
            return step
        approval = step.approval
        words = frozen_words(held)
        decision = Decision(approval.id, "rejected", decided_by=FROZE, feedback=words, digest=approval.digest)
        entry = {
            "event": "auto_rejected", "at": repr(time.time()), "approval": approval.id, "run": ask.run.id,
            "by": FROZE, "outcome": "rejected", "rule": words[:500], "kind": approval.kind,
            "tool": approval.tool_name, "origin_channel": ask.run.channel, "scope": held.scope,
            "frozen_by": held.by, **({"key": approval.asked_by} if approval.asked_by else {}),
        }
        return Decided(step, decision, entry, mode=FROZE)

