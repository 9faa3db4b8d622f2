"""Remembered decisions ("always allow" rules, `bot/core/allow_rules.py`), per channel.

`rules:<channel>` is a hash of the channel's rules (id -> the rule's fields as JSON), run rules
included, so that the hot path reads every rule that might approve a call in one command; `rule_uses`
counts each rule's approvals. An expired rule is ignored by every reader at once and dropped from the
hash by the next write; a revoked one is removed in the step that revokes it.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from bot.core.allow_rules import Rule
from bot.store.connection import aw
from bot.store.shared import Shared

log = logging.getLogger(__name__)

MAX_RULES_PER_CHANNEL = 100


DECODED_CACHE = 10_000  # rules kept decoded per worker (by their stored text: a changed rule is read again)


class Rules:
    def __init__(self, shared: Shared) -> None:
        self._s = shared
        self._k = shared.keys
        self._decoded: dict[tuple[str, str], Rule] = {}

    async def candidates(self, channel: str) -> list[Rule]:
        """The channel's stored rules (the caller checks expiry, run and match): one Redis command. Each
        rule's JSON is decoded once per worker (the hot path of every tool call reads them all)."""
        raw = await aw(self._s.redis.hgetall(self._k.rules(channel)))
        rules: list[Rule] = []
        for rule_id, text in raw.items():
            key = (str(rule_id), str(text))
            rule = self._decoded.get(key)
            if rule is None:
                found = _decoded({rule_id: text}, {})
                if not found:
                    continue
                if len(self._decoded) >= DECODED_CACHE:
                    self._decoded.clear()
                rule = self._decoded[key] = found[0]
            rules.append(rule)
        return sorted(rules, key=_order)

    async def of_channel(self, channel: str, *, now: float) -> list[Rule]:
        """The channel's live rules with their uses so far, oldest first."""
        async with self._s.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self._k.rules(channel))
            pipe.hgetall(self._k.rule_uses(channel))
            raw, uses = await pipe.execute()
        return [rule for rule in _decoded(raw, uses) if rule.live(now)]

    async def get(self, channel: str, rule_id: str) -> Rule | None:
        async with self._s.redis.pipeline(transaction=False) as pipe:
            pipe.hget(self._k.rules(channel), rule_id)
            pipe.hget(self._k.rule_uses(channel), rule_id)
            raw, uses = await pipe.execute()
        if raw is None:
            return None
        found = _decoded({rule_id: raw}, {rule_id: uses or "0"})
        return found[0] if found else None

    async def channels(self) -> list[str]:
        """Every channel that has had a rule (sorted)."""
        return sorted(await aw(self._s.redis.smembers(self._k.rule_channels)))

    async def create(self, rule: Rule, *, limit: int = MAX_RULES_PER_CHANNEL) -> str:
        """Keep `rule` (its `id` is ignored) under a new id, returned ("R7"); "full" when its channel has
        `limit` live rules already. Audited `rule_created`."""
        k = self._k
        fields = rule.to_fields()
        del fields["id"], fields["uses"]
        audit = {
            "event": "rule_created",
            "at": repr(time.time()),
            "by": rule.created_by,
            "origin_channel": rule.channel,
            "run": rule.run,
            "scope": rule.scope,
            "tool": rule.match.tool,
            "match": rule.match.to_json(),
            "expires_at": repr(rule.expires_at),
            "approval": rule.approval,
        }
        return str(
            await self._s.script("create_rule")(
                keys={
                    "seq": k.rule_seq,
                    "rules": k.rules(rule.channel),
                    "uses": k.rule_uses(rule.channel),
                    "channels": k.rule_channels,
                    "audit": k.audit, "audit_seq": k.audit_seq, "audit_shards": k.audit_shards,
                },
                args={
                    "rule": fields,
                    "channel": rule.channel,
                    "now": repr(time.time()),
                    "limit": str(limit),
                    "audit": audit,
                },
            )
        )

    async def remove(self, channel: str, rule_id: str, *, event: str, by: str, reason: str = "") -> Rule | None:
        """Remove a rule (`event`: `rule_revoked`), audited with its uses (a run's rules end with it, in
        `Runs.finish`).
        Returns the rule removed, or None when there was none."""
        k = self._k
        audit = {
            "event": event,
            "at": repr(time.time()),
            "by": by,
            "origin_channel": channel,
            "rule_id": rule_id,
            "reason": reason[:500],
        }
        raw = await self._s.script("revoke_rule")(
            keys={"rules": k.rules(channel), "uses": k.rule_uses(channel), "audit": k.audit, "audit_seq": k.audit_seq,
                  "audit_shards": k.audit_shards},
            args={"id": rule_id, "audit": audit},
        )
        if raw == "missing":
            return None
        found = _decoded({rule_id: raw}, {})
        return found[0] if found else None


def _decoded(raw: dict[Any, Any], uses: dict[Any, Any]) -> list[Rule]:
    rules = []
    for rule_id, text in raw.items():
        try:
            fields = json.loads(text)
            fields["id"] = str(rule_id)
            fields["uses"] = str(uses.get(rule_id) or "0")
            rules.append(Rule.from_fields(fields))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("rule %s is unreadable (%s); it is ignored", rule_id, type(exc).__name__)
    return sorted(rules, key=_order)


def _order(rule: Rule) -> int:
    """Oldest first: rule ids are R<n>."""
    return int(rule.id[1:]) if rule.id[1:].isascii() and rule.id[1:].isdigit() else 0
