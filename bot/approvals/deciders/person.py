"""The chain's end where an approval is opened (bot/approvals/chain.py), through the store's one open step
(`Approvals.open`, one `Opening`: limits, idempotency, a rule's use, the policy windows checked and counted): what a
link decided at once stored decided (`settle`: used once, like a person's decision), or, nobody having decided, the
approval stored pending (said at once, `ApprovalStored`: the push goes beside the card) and a person asked (`decide`):
its `oncall:<schedule>` approvers read (bot/approvals/oncall.py), routed around approvers over the channel's
`max_asks_per_hour` (bot/approvals/fatigue.py; when all are over it, held for the next hour, its card in the channel),
its card posted where the channel says, with its copies in direct messages (`CardDelivery`: Slack's,
bot/slack/delivery.py). A program's retry whose first try stored the approval and stopped before its card gets the card
here."""

from __future__ import annotations

import time
from dataclasses import replace
from functools import partial

from bot.approvals.chain import Decided, Step
from bot.approvals.events import ApprovalStored
from bot.approvals.fatigue import FatigueRouting, held
from bot.approvals.oncall import OnCallRouting
from bot.approvals.opening import Opened, OpenRefused
from bot.approvals.ports import CardDelivery
from bot.core.fatigue import passed_over
from bot.core.records import ApprovalRecord, ChannelSettings
from bot.core.tracing import span
from bot.store import Fenced, Opening, Store, persistently


class Person:
    """The end that opens the approval (the module docstring)."""

    def __init__(self, store: Store, delivery: CardDelivery, *, fatigue: FatigueRouting | None = None,
                 oncall: OnCallRouting | None = None) -> None:
        self._store = store
        self._delivery = delivery
        self._fatigue = fatigue  # approvers over `max_asks_per_hour` passed over (bot/approvals/fatigue.py)
        self._oncall = oncall  # `oncall:<schedule>` approvers read now (bot/approvals/oncall.py)

    async def decide(self, step: Step) -> Opened:
        """A person decides: the approval stored pending (fenced, within the program's limits and idempotency,
        counted in its policy windows) and its card posted, with its copies in direct messages."""
        ask = step.ask
        program = ask.program
        approval = step.approval
        if self._oncall is not None:  # (before fatigue: the people on call now are who it may pass over)
            approval = await self._oncall.at_ask(approval, ask.settings)
        if self._fatigue is not None:
            approval = await self._fatigue.route(approval, ask.settings)
        if held(approval):  # its card in the channel; a DM copy now only to those under budget (a quorum short)
            approval, dms = await self._held_copies(approval, ask.settings)
        else:
            approval, dms = await self._delivery.with_dm_copies(approval, ask.settings)
        opening = Opening(approval, checkpoint=ask.request.checkpoint, fence=ask.fence,
                          once=program.once if program else None, max_pending=program.max_pending if program else 0,
                          windows=step.windows, policy=step.routed_by,
                          policy_bundle=step.judged.bundle.hash if step.judged else "",
                          settings=(ask.run.channel, ask.settings_held))
        status, approval_id = await persistently(partial(self._store.approvals.open, opening),
                                                 what=f"opening approval {approval.id}")
        if status in ("fenced", "full", "conflict"):
            raise Fenced(approval.run_id) if status == "fenced" else OpenRefused(status)
        if status in ("stale", "unsettled"):  # (the chain decides again)
            return Opened(status, approval.id)
        if status == "exists":  # a retry (a program's, or a run's ask through a Redis blip): its first ask's approval
            card = await self._unposted_card(approval_id)
            return Opened(status, approval_id, settings=ask.settings, card=card)
        if status == "ok":  # stored pending: said now, so a surface that reaches people itself goes beside the card
            self._delivery.events.publish(ApprovalStored(approval))
        if self._oncall is not None and status == "ok":
            await self._oncall.audit_unread(approval, step="ask")
        if self._fatigue is not None and status == "ok":
            await self._fatigue.hold(approval)  # (before its card: a held approval is never left unsent)
        with span("card", approval_id=approval.id, channel=approval.card_channel, tool=approval.tool_name,
                  policy=",".join(step.routed_by), status="pending"):
            card = await self._delivery.post_card(approval, fence=ask.fence)
        if self._fatigue is not None and status == "ok":
            await self._fatigue.delivered(approval)
        return Opened(status, approval.id, settings=ask.settings, card=card, dms=tuple(dms))

    async def _held_copies(self, approval: ApprovalRecord, settings: ChannelSettings) -> tuple[ApprovalRecord,
                                                                                                    list[str]]:
        """An approval held for the next hour: its card stays in the channel; where cards go by direct message, the
        approvers still under budget (too few for its quorum) get their copy now, nobody over it."""
        over = passed_over(approval.fatigue)[1]
        under = tuple(a for a in approval.approvers if a not in over)
        if not under or settings.deliver == "channel":
            return approval, []
        copied, dms = await self._delivery.with_dm_copies(replace(approval, approvers=under),
                                                          replace(settings, deliver="both"))
        return replace(approval, copies=copied.copies), dms

    async def _unposted_card(self, approval_id: str) -> tuple[str, str]:
        """The card of a pending approval whose first try stopped before it, posted now; its card posted, that one
        (else none)."""
        stored = await self._store.approvals.get(approval_id)
        if stored is None or not stored.pending or stored.card_ts:
            return (stored.card_channel, stored.card_ts) if stored and stored.pending and stored.card_ts else ("", "")
        return await self._delivery.post_card(stored)

    async def settle(self, decided: Decided) -> Opened:
        """Store the approval as `decided` decided it at once (the input mode, a rule while it stands, or a policy),
        counted in its policy windows unless rejected. A run's own step is used at once by the run that asked
        (stored used: a worker that takes the run over later starts from the checkpoint before it); a program's
        waits for the program to use it."""
        step, decision, rule, policy = decided.step, decided.decision, decided.rule, decided.policy
        ask, now = step.ask, time.time()
        used = ask.program is None and ask.fence is not None
        approval = replace(step.approval, status=decision.outcome, decided_by=decision.decided_by, decided_at=now,
                           feedback=decision.feedback, rule_id=rule.id if rule else "", decided_by_mode=decided.mode,
                           deadline=0.0, policy_reason=step.approval.policy_reason if policy else "",
                           consumed=int(used), consumed_by=":".join(map(str, ask.fence)) if used and ask.fence else "")
        opening = Opening(approval, once=ask.program.once if ask.program else None, audit=decided.audit,
                          rule=(rule.channel, rule.id) if rule else ("", ""), now=now, windows=step.windows,
                          policy=policy.verdict.ids if policy else (),
                          policy_bundle=policy.bundle.hash if policy else "",
                          settings=(ask.run.channel, ask.settings_held))
        status, approval_id = await persistently(partial(self._store.approvals.open, opening),
                                                 what=f"opening approval {approval.id}")
        if status == "conflict":
            raise OpenRefused(status)
        return Opened(status, approval_id, decided=decision if status in ("ok", "exists") else None)
