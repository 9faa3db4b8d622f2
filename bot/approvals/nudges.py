"""Nobody forgets: reminders and escalations of approvals nobody has decided, on any worker; and a person whose
attestation (fit to decide, bot/approvals/attesting.py) ends within a week is told, once; and at the hour, the
approvals held for it (every approver over `max_asks_per_hour`) are sent, one batch per person
(bot/approvals/fatigue.py). The core's part: what is due, claimed, published and noted; what a surface posts is the
`NudgeTeller`'s (bot/approvals/ports.py; Slack's `SlackNudges`, bot/slack/nudges.py, given by the root).

    opened (lua/open_approval.lua)   -> the first step's time in `nudges` (a reminder or the escalation)
    due (any worker's Nudger)        -> claim it for a lease (lua/claim_due.lua, as timeouts do)
                                     -> an escalation naming on-call schedules: who is on call now
                                        joins its `escalate_to` (bot/approvals/oncall.py)
                                     -> lua/nudge.lua: still pending? an escalation due lets its
                                        `escalate_to` decide, once (audited; the card is redrawn)
                                     -> each step due: `Nudged` published first (bot/approvals/events.py),
                                        once (lua/nudge_publish.lua): the other surfaces tell it whatever
                                        Slack answers (e-mail: bot/email/surface.py; Teams:
                                        bot/msteams/delivery.py); then the teller posts it (Slack: in the
                                        card's thread, mentioning who may still decide (not who voted; a
                                        delegate for who is away), and in the direct messages of those who
                                        got the card there)
                                     -> lua/nudged.lua: note them told (audited), schedule the next
    decided meanwhile                -> nothing noted, and the messages just posted are deleted (`take_back`)

A step is published once whichever workers live and whatever Slack answers: the approval's `published` field
(the steps published so far) is set before the event, so a Slack post retried (Slack down: due again at the
claim's end) never publishes it again, and a worker that dies after publishing leaves it published: the surfaces
whose due sets the store was told (`Nudges.published_to`: e-mail's) have the approval due in the same Lua step as
the mark, so a worker killed before a listener's send claimed its mail loses none: that surface's due work sends
it, once.
A step is told once whichever workers live: the claim's lease keeps others off it, and a worker that
dies holding it leaves it due again when the lease ends. A worker that died after posting a step and
before noting it left the approval marked `telling`: the next one's teller first reads each thread
(Slack: `conversations.replies`) for the step's message, by its metadata, and posts only what is missing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from bot.approvals.due_loops import DueSweeper
from bot.approvals.events import Events, Nudged
from bot.approvals.oncall import OnCallRouting
from bot.approvals.ports import CardRedraws, NudgeTeller, Posted
from bot.core.records import ApprovalRecord, Step
from bot.core.service_levels import EVENTS as SLA_EVENTS
from bot.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Asked:
    """Whom one step asks (`Nudger._asked`): the mentions (people and groups who may still decide), the people they
    name, and the step as every surface is told it (its delegates among them -> for whom)."""

    mentions: list[str]
    people: set[str]
    nudged: Nudged


class Nudger(DueSweeper):
    """Sends every worker's due reminders and escalations (see the module docstring)."""

    name = "nudger"

    def __init__(
        self,
        *,
        store: Store,
        teller: NudgeTeller,
        cards: CardRedraws,
        max_sleep: float = 1.0,
        batch: int = 200,
        concurrency: int = 8,
        breached: Callable[[], None] | None = None,
        events: Events | None = None,
        oncall: OnCallRouting | None = None,
    ) -> None:
        super().__init__(max_sleep=max_sleep)
        self._oncall = oncall  # an escalation's on-call schedules read again first (bot/approvals/oncall.py)
        self._events = events  # each step published (`Nudged`) for the other surfaces, before Slack
        self._breached = breached  # a breach told (the metric `hitl_sla_breaches`)
        self._store = store
        self._teller = teller  # who posts each step (Slack's thread and DMs), an attestation's end, the held batches
        self._cards = cards  # a service level's change drawn on the card
        self._batch = batch
        self._slots = asyncio.Semaphore(concurrency)

    async def sweep(self, *, now: float | None = None) -> int:
        """Tell every step due by `now` (default: now), a batch of claimed approvals at a time; how many
        steps this worker told."""
        now = time.time() if now is None else now
        # the approvals held for the hour (fatigue): the teller's own lease
        told = await self._attestations_ending(now) + await self._teller.send_held(now)
        while True:
            ids = await self._store.nudges.claim_due(now, limit=self._batch)
            await self._on_call_now(ids, now)
            approvals = await self._store.nudges.open(ids, now=now)
            counts = await asyncio.gather(*(self._nudge(approval, now) for approval in approvals))
            told += sum(counts)
            if len(ids) < self._batch:
                return told

    async def _on_call_now(self, ids: Sequence[str], now: float) -> None:
        """The claimed approvals due an escalation that name on-call schedules: who is on call now joins their
        `escalate_to`, before the escalation lets them in (issue 90)."""
        if self._oncall is None:
            return
        for approval_id in ids:
            approval = await self._store.approvals.get(approval_id)
            if approval is not None and approval.oncall:
                await self._oncall.at_escalation(approval, now)

    async def _attestations_ending(self, now: float) -> int:
        """Remind each person whose attestation ends within a week (once: the reminder is taken by one worker); how
        many were told. A reminder the teller could not send is due again in an hour."""
        told = 0
        for due in await self._store.attestations.take_due(now, limit=self._batch):
            if await self._teller.attestation_ending(due, now=now):
                told += 1
            else:
                await self._store.attestations.remind_again(due, at=now + 3600)
        return told

    async def next_due(self) -> float | None:
        found = [at for at in (await self._store.nudges.next_due(), await self._store.attestations.next_due(),
                               await self._store.fatigue.next_held()) if at is not None]
        return min(found, default=None)

    async def _nudge(self, approval: ApprovalRecord, now: float) -> int:
        """Post `approval`'s due steps, then note them told; the number told."""
        async with self._slots:
            steps = approval.due_steps(now)
            posted: Posted = []
            entries: list[dict[str, str]] = []
            sla_state = ""
            for ordinal, step in enumerate(steps, start=approval.nudged + 1):
                if step.kind in SLA_EVENTS:  # a service level's change: audited and drawn, nothing posted
                    sla_state = step.kind
                    entries.append(sla_entry(approval, step, now=now))
                    continue
                asked = await self._asked(approval, step, now)
                await self._publish(asked, ordinal=ordinal)  # the other surfaces first, once: Slack holds none
                where = await self._teller.tell(asked.nudged, mentions=asked.mentions, now=now)
                if where is None:  # not told: due again at the claim's end
                    break
                posted += where
                entries.append(_audit_entry(approval, step, asked.mentions, told_at=time.time()))
            else:
                told = approval.nudged + len(steps)
                status = await self._store.nudges.told(
                    approval, told=told, next_at=approval.next_step_at(told), entries=entries, sla_state=sla_state
                )
                if status == "ok":
                    if sla_state:
                        self._sla_changed(replace(approval, nudged=told, sla_state=sla_state))  # type: ignore[arg-type]
                    return len(steps)
                log.info("approval %s was decided while reminded: the reminder is removed", approval.id)
            if posted:
                await self._teller.take_back(posted)
            return 0

    async def _asked(self, approval: ApprovalRecord, step: Step, now: float) -> Asked:
        """Who `step` asks: the mentions (people and groups who may still decide, a delegate for who is away) and, as
        the other surfaces are told it, the people they name (user groups' members: as Slack last said them)."""
        mentions, delegated = await self.still_to_decide(approval, now)
        people = await self._teller.people(approval, mentions)
        nudged = Nudged(approval, step.kind, step.number, tuple(sorted(people)), tuple(sorted(delegated.items())))
        return Asked(mentions=mentions, people=people, nudged=nudged)

    async def _publish(self, asked: Asked, *, ordinal: int) -> None:
        """Publish the step (`Nudged`: e-mail and Teams tell it) before Slack is tried, once across every retry of
        its Slack post on any worker: the approval's `published` field says it was (lua/nudge_publish.lua)."""
        if self._events is None:
            return
        if await self._store.nudges.publishing(asked.nudged.approval.id, ordinal=ordinal) == "ok":
            self._events.publish(asked.nudged)

    def _sla_changed(self, approval: ApprovalRecord) -> None:
        """Its service level's change is kept: its card (and the Homes showing it) redrawn now (the outbox has it
        too), a breach counted."""
        self._cards.schedule(approval)
        if approval.sla_state == "breached" and self._breached is not None:
            self._breached()

    async def still_to_decide(self, approval: ApprovalRecord, now: float) -> tuple[list[str], dict[str, str]]:
        """Who to mention: its approvers (people and groups, those of an escalation included) who have
        not voted, never its requester (unless the channel allows it); a person away is replaced by
        their delegate, or left out. Empty when anyone may decide. Returns the mentions and, for each
        delegate mentioned, for whom."""
        if not approval.approvers:
            return [], {}
        acted = set(approval.voters) | {pair.partition(":")[2] for pair in approval.proxies}
        users = [a for a in approval.approvers if not a.startswith("S")]
        away = await self._store.away.many(users, now=now)
        mentions: list[str] = []
        delegated: dict[str, str] = {}
        for user in approval.approvers:
            if user in acted or (user == approval.requester and not approval.allow_self_approval):
                continue
            state = away.get(user)
            if state is None:
                mentions.append(user)
            elif state.delegate and approval.may_decide_for(state.delegate, user):
                mentions.append(state.delegate)
                delegated[state.delegate] = user
        return list(dict.fromkeys(mentions)), delegated


def sla_entry(approval: ApprovalRecord, step: Step, *, now: float) -> dict[str, str]:
    """A service level's change, audited once (`sla_at_risk`, `sla_breached`): the policies that routed it ("" when
    none), its service level and how long it had waited by `now` (the sweep's clock)."""
    try:
        ids = json.loads(approval.policy).get("ids") or [] if approval.policy else []
    except (ValueError, AttributeError):
        ids = []
    return {
        "event": SLA_EVENTS[step.kind],
        "at": repr(time.time()),
        "approval": approval.id,
        "run": approval.run_id,
        "channel": approval.origin_channel,
        "card_channel": approval.card_channel,
        "policy": ",".join(str(i) for i in ids),
        "sla_seconds": str(approval.sla_seconds),
        "waited_seconds": str(max(0, round(now - approval.created_at))),
        "due": repr(step.at),
    }


def _audit_entry(approval: ApprovalRecord, step: Step, mentioned: Sequence[str], *, told_at: float) -> dict[str, str]:
    """A step's audit entry: `at` when it was posted, `due` when it was due."""
    entry = {
        "event": "reminded" if step.kind == "remind" else "escalation_told",
        "at": repr(told_at),
        "approval": approval.id,
        "run": approval.run_id,
        "origin_channel": approval.origin_channel,
        "card_channel": approval.card_channel,
        "step": str(step.number),
        "due": repr(step.at),
        "mentioned": ",".join(mentioned),
    }
    return entry
