"""Who may create and revoke "always allow" rules, and what happens when they do (`bot/core/allow_rules.py` is
what a rule is; the approval service applies them before a card is posted).

- **From a card** (*Approve & always allow* on a tool call): a rule for this run needs the right to
  approve the card (and a named admin where a call needs more than one approval: a rule lets calls
  through with none); a rule for the channel needs a named admin (the channel's `admins`, or
  `ADMIN_USERS`). The rule must match the card's own call, pass the tool's schema and expire within
  1 hour to 30 days. Creating it approves the card through the decide step; if the decide step
  refuses (someone decided first), the rule is removed again and nothing changed.
- **From a suggestion** (`/agent rules suggest`): a rule for the channel, so a named admin only.
- **Revoking**: the channel's named admins, and whoever created the rule.

Every refusal is an ephemeral message and a `rule_refused` audit entry.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.approvals.decisions import card_place
from bot.approvals.refusals import WHO_NAMES_ADMINS
from bot.approvals.rights import is_admin
from bot.approvals.service import ApprovalService
from bot.core.allow_rules import (
    DEFAULT_MIN_APPROVED,
    MAX_EXPIRY,
    MIN_EXPIRY,
    RULE_ID,
    Match,
    Rule,
    Scope,
    problems,
)
from bot.core.records import API_OWNER, ApprovalRecord, ChannelSettings
from bot.core.rule_suggestions import Suggestion, past_calls, suggest
from bot.store import DecideResult, Store, persistently

SUGGEST_SINCE = 30 * 86400  # suggestions replay this much of the audit log

NO_RULE_FOR_STEP_UP = ("Approving this call needs each approver's passkey, so no rule may approve it or calls like it."
                       " Approve it on its own. Nothing changed.")


@dataclass(frozen=True, slots=True)
class Created:
    """What creating a rule did: `rule` when it was kept; `message` says what happened (or why not), for
    the person; `decided` is the decide step's answer when the rule approved a card."""

    rule: Rule | None
    message: str
    decided: DecideResult | None = None
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Revoked:
    done: bool
    message: str


NO_PROGRAM_RUN = (
    "“This run only” needs the program's own run: this program sent no run id with its ask, so its approvals"
    " share one run with every other program of its API key, and the rule would approve their calls too. Approve"
    " this call alone, or make a rule for every run in the channel (admins). Nothing changed."
)


class RuleBook:
    def __init__(self, *, store: Store, approvals: ApprovalService, admin_users: Sequence[str]) -> None:
        self.store = store
        self.approvals = approvals
        self.admin_users = tuple(admin_users)
        self.on_change: Callable[[str], None] | None = None  # a channel's rules changed (its admins' Homes)

    def changed(self, channel: str) -> None:
        if self.on_change is not None:
            self.on_change(channel)

    async def settings(self, channel: str) -> ChannelSettings:
        return await self.approvals.channel_settings(channel)

    async def is_admin(self, user: str, channel: str) -> bool:
        """A named admin of the channel (its `admins`), or one of ADMIN_USERS."""
        return is_admin(user, await self.settings(channel), self.admin_users)

    async def refuse(self, user: str, channel: str, why: str, **fields: str) -> Created:
        await persistently(
            lambda: self.store.audit.append(
                "rule_refused", by=user, origin_channel=channel, reason=why[:500], **fields
            ),
            what="auditing a refused rule",
        )
        return Created(None, why)

    async def from_card(
        self,
        user: str,
        approval: ApprovalRecord,
        card: tuple[str, str] | None,
        *,
        scope: Scope,
        match: Match,
        expires_in: int,
    ) -> Created:
        """Create a rule from the card of `approval` (a pending tool call) and approve the card with it."""
        channel = approval.origin_channel
        refused = await self._checked(user, approval, scope=scope, match=match, expires_in=expires_in, card=card)
        if refused is not None:
            return refused
        now = time.time()
        rule = Rule(
            id="",
            scope=scope,
            channel=channel,
            run=approval.run_id if scope == "run" else "",
            match=match,
            created_by=user,
            created_at=now,
            expires_at=now + expires_in,
            approval=approval.id,
        )
        made = await self._keep(rule)
        if made.rule is None:
            return made
        kept = made.rule
        feedback = f"approved, and always allowed by rule {kept.id}"
        result = await self.approvals.decisions.decide(user, "slack", "approve", approval_id=approval.id,
                                                       where=card_place(card), feedback=feedback)
        if result.status not in ("ok", "vote"):
            await self.store.rules.remove(
                channel, kept.id, event="rule_revoked", by=user, reason="the card was not approved: " + result.status
            )
            return Created(None, "", decided=result)
        self.approvals.decisions.redraw_after(result, surface="slack")
        self.changed(channel)
        return Created(kept, f"Rule {kept.id} created, and the card approved.", decided=result)

    async def from_suggestion(
        self, user: str, channel: str, *, example: ApprovalRecord | None, match: Match, expires_in: int
    ) -> Created:
        """Create a channel rule from a suggestion (`example` is an approved call of its tool, whose
        approval holds the tool's schema)."""
        if not await self.is_admin(user, channel):
            return await self.refuse(user, channel, self.admin_only(channel), tool=match.tool)
        if example is None or example.kind != "tool_call" or example.tool_name != match.tool:
            why = f"No recent call of {match.tool} is kept to check the rule against its schema. Nothing changed."
            return await self.refuse(user, channel, why, tool=match.tool)
        found = self._problems(example, match, expires_in)
        if found:
            return await self._refuse_problems(user, channel, match, found)
        now = time.time()
        rule = Rule(
            id="",
            scope="channel",
            channel=channel,
            run="",
            match=match,
            created_by=user,
            created_at=now,
            expires_at=now + expires_in,
            approval="",
        )
        made = await self._keep(rule)
        if made.rule is not None:
            self.changed(channel)
        return made

    async def revoke(self, user: str, channel: str, rule_id: str) -> Revoked:
        """Revoke a rule of `channel`: whether it was, and what to tell `user`."""
        if not RULE_ID.fullmatch(rule_id):
            why = f"There is no rule {rule_id!r}: rule ids look like R7 (`/agent rules` lists them). Nothing changed."
            return Revoked(False, why)
        rule = await self.store.rules.get(channel, rule_id)
        if rule is None or not rule.live(time.time()):
            return Revoked(False, f"There is no live rule {rule_id} in this channel. Nothing changed.")
        if user != rule.created_by and not await self.is_admin(user, channel):
            why = f"Only this channel's admins or whoever created rule {rule_id} may revoke it. Nothing changed."
            await self.refuse(user, channel, why, rule_id=rule_id)
            return Revoked(False, why)
        removed = await self.store.rules.remove(channel, rule_id, event="rule_revoked", by=user)
        if removed is None:
            return Revoked(False, f"Rule {rule_id} was revoked or ended a moment ago. Nothing changed.")
        self.changed(channel)
        return Revoked(True, f"Rule {rule_id} revoked: from now on its calls get a card again.")

    async def live(self, channel: str) -> list[Rule]:
        return await self.store.rules.of_channel(channel, now=time.time())

    async def suggestions(self, channel: str, *, min_approved: int = DEFAULT_MIN_APPROVED) -> list[Suggestion]:
        """Rules that would have approved calls people in `channel` approved at least `min_approved`
        times in the last 30 days, and none they rejected or revised (replayed on the audit log)."""
        since = time.time() - SUGGEST_SINCE
        entries = [e async for e in self.store.audit.export(since=since, channels=[channel])]
        return suggest(past_calls(entries), min_approved=min_approved)

    def admin_only(self, channel: str) -> str:
        return (
            "Only a named admin of this channel (or one of ADMIN_USERS) may make a rule for every run in it"
            f" ({WHO_NAMES_ADMINS}). Or choose “This run only”: it needs only the right to approve the card."
            " Nothing changed."
        )

    # ------------------------------------------------------------------------------------------
    async def _checked(
        self,
        user: str,
        approval: ApprovalRecord,
        *,
        scope: Scope,
        match: Match,
        expires_in: int,
        card: tuple[str, str] | None,
    ) -> Created | None:
        channel = approval.origin_channel
        if approval.kind != "tool_call" or not approval.pending:
            return await self.refuse(user, channel, "Only a pending tool call can be always allowed. Nothing changed.")
        if approval.step_up:
            return await self.refuse(user, channel, NO_RULE_FOR_STEP_UP, approval=approval.id)
        found = self._problems(approval, match, expires_in)
        if not found:
            try:
                arguments = json.loads(approval.arguments)
            except ValueError:
                arguments = None
            if not match.matches(approval.tool_name, arguments, approval.digest):
                found = ["the rule does not match the call on this card"]
        if found:
            return await self._refuse_problems(user, channel, match, found)
        check = await self.approvals.decisions.may_decide(user, "slack", "approve", approval_id=approval.id,
                                                          where=card_place(card))
        if check.status != "allowed":
            return Created(None, "", decided=check)  # the decide step's refusal, audited there
        if scope == "run" and approval.owner == API_OWNER:
            run = await self.store.runs.get(approval.run_id)
            if run is None or not run.program_run:
                return await self.refuse(user, channel, NO_PROGRAM_RUN, approval=approval.id)
        admin = await self.is_admin(user, channel)
        if scope == "channel" and not admin:
            return await self.refuse(user, channel, self.admin_only(channel), approval=approval.id)
        if approval.required_approvals > 1 and not admin:
            why = (
                f"This channel needs {approval.required_approvals} approvals for each call, and a rule approves"
                " with none: only a named admin may create one here. Nothing changed."
            )
            return await self.refuse(user, channel, why, approval=approval.id)
        return None

    def _problems(self, approval: ApprovalRecord, match: Match, expires_in: int) -> list[str]:
        found: list[str] = []
        if not MIN_EXPIRY <= expires_in <= MAX_EXPIRY:
            found.append("a rule expires after 1 hour to 30 days")
        if approval.schema_error:
            found.append(f"the call's arguments fail the schema of {approval.tool_name}")
        if match.tool != approval.tool_name:
            found.append(f"the rule is for {match.tool}, not {approval.tool_name}")
        try:
            schema = json.loads(approval.arguments_schema or "{}")
        except ValueError:
            schema = None
        if not isinstance(schema, dict):
            return [*found, f"the schema of {approval.tool_name} cannot be read"]
        return found + problems(match, schema)

    async def _refuse_problems(self, user: str, channel: str, match: Match, found: list[str]) -> Created:
        why = "The rule was not created: " + "; ".join(found) + ". Nothing changed."
        made = await self.refuse(user, channel, why, tool=match.tool)
        return Created(None, made.message, problems=tuple(found))

    async def _keep(self, rule: Rule) -> Created:
        rule_id = await persistently(lambda: self.store.rules.create(rule), what="creating a rule")
        if rule_id == "full":
            return await self.refuse(
                rule.created_by,
                rule.channel,
                "This channel has 100 live rules already: revoke some first (`/agent rules`). Nothing changed.",
            )
        kept = await self.store.rules.get(rule.channel, rule_id)
        return Created(kept, f"Rule {rule_id} created.")
