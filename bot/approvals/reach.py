"""A route that moves across surfaces (issue 90): each step of an approval's route (its channel's `reach` as it
opened, or a policy's @reach: bot/core/reach.py) taken once, in order, at its time, only while it waits.

    opened pending (`listener`)   -> its first step due at the ask + the step's `after` (bot/store/reach.py);
                                     parked (timeout `never`): the admins' weekly digest of parked approvals due
                                     (bot/slack/digest.py)
    due (any worker's `Reach`)    -> claimed for a lease; each step due by the loop's clock reached through
                                     the `Reacher` the root registered under its surface's name
                                     (bot/approvals/ports.py); `oncall:<schedule>`: the people on call now
                                     (`OnCallSchedules`), reached by the first surface of `ONCALL_BY` registered
                                     and let in as approvers (lua/reach_let_in.lua, as an escalation's `oncall:`
                                     people are); the provider unable to say: the route's fallback approvers
                                     (the channel's `oncall_fallback`, else its admins), said on the card
                                  -> then noted taken with what it did, in one step (lua/reach_said.lua: decided
                                     meanwhile or noted before, nothing kept): kept on the approval (`reached`:
                                     every copy says it, bot/core/card_words.py), its card redrawn, audited

Whom a step reaches: the approvers still to decide (not voted; not its requester unless the channel allows it);
user groups are the surface's to expand. A step whose surface is not configured here is skipped and said, an
on-call step without a provider (or one that cannot answer) goes to the fallback approvers, said on the card (none
named: said unavailable): never an error, never silent. The people an `oncall:` step reaches may decide; the
decision's own checks (a policy about who decides, the requester's own vote) still hold. A
step is taken at least once (noted taken after its surface is called: a worker killed between the call and the note
leaves it due again at its claim's lease's end, for any worker) and said once; the surfaces' own claims (once per
approval, person and kind) keep a step taken again from sending twice. The core names no surface: the root gives the
reachers."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from bot.approvals.due_loops import DueSweeper
from bot.approvals.events import ApprovalOpened, Event
from bot.approvals.oncall import fallback_of
from bot.approvals.ports import OnCallSchedules, Reacher
from bot.core.oversight import DIGEST_SECONDS
from bot.core.reach import NOBODY, ONCALL, SENT, SKIPPED, UNAVAILABLE, ReachStep, steps_of
from bot.core.records import ApprovalRecord
from bot.core.tasks import Background
from bot.store import Store

log = logging.getLogger(__name__)

ONCALL_BY = ("push", "slack", "teams", "email")  # how the people on call are reached: the first surface registered


class Reach(DueSweeper):
    """Takes every worker's due route steps (see the module docstring)."""

    name = "reacher"

    def __init__(self, *, store: Store, reachers: Mapping[str, Reacher], background: Background,
                 oncall: OnCallSchedules | None = None, max_sleep: float = 1.0, batch: int = 100) -> None:
        super().__init__(max_sleep=max_sleep)
        self._store = store
        self._reachers = dict(reachers)
        self._background = background
        self.oncall = oncall  # None: no on-call provider here (an `oncall:` step is said unavailable)
        self._batch = batch

    def listener(self, event: Event) -> None:
        """An approval opened pending with a route: its first step due (spawned)."""
        if isinstance(event, ApprovalOpened) and event.answer.decided is None \
                and event.answer.status in ("ok", "exists"):
            self._background.spawn(self.opened(event.answer.approval_id), name="reach-opened")

    async def opened(self, approval_id: str) -> None:
        approval = await self._store.approvals.get(approval_id)
        if approval is None or not approval.pending or approval.canary:
            return
        if approval.never_times_out:  # parked (timeout `never`): named in the admins' weekly digest
            await self._store.oversight.parked_due(at=approval.created_at + DIGEST_SECONDS)
        steps = steps_of(approval.reach_route)
        if len(steps) > approval.reach_done:
            await self._store.reach.schedule(approval_id, at=approval.created_at + steps[approval.reach_done].after)
            self.wake()

    async def sweep(self, *, now: float | None = None) -> int:
        """Take every step due by `now` (default: now), a batch of claimed approvals at a time; how many taken."""
        now = time.time() if now is None else now
        taken = 0
        while True:
            ids = await self._store.reach.claim_due(now, limit=self._batch)
            for approval_id in ids:
                taken += await self._route(approval_id, now)
            if len(ids) < self._batch:
                return taken

    async def next_due(self) -> float | None:
        return await self._store.reach.next_due()

    async def _route(self, approval_id: str, now: float) -> int:
        """`approval_id`'s steps due by `now`, each taken once; the next one scheduled; how many taken."""
        approval = await self._store.approvals.get(approval_id)
        steps = steps_of(approval.reach_route) if approval is not None else ()
        if approval is None or not approval.pending or approval.reach_done >= len(steps):
            await self._store.reach.forget(approval_id)
            return 0
        done = approval.reach_done
        taken = 0
        while done < len(steps) and approval.created_at + steps[done].after <= now:
            following = approval.created_at + steps[done + 1].after if done + 1 < len(steps) else None
            answer = await self._step(approval, done + 1, steps[done], next_at=following)
            if answer in ("decided", "missing"):
                return taken
            taken += answer == "ok"
            done += 1
        if done < len(steps):  # (the claim moved it to its lease's end)
            await self._store.reach.schedule(approval_id, at=approval.created_at + steps[done].after)
        return taken

    async def _step(self, approval: ApprovalRecord, number: int, step: ReachStep, *, next_at: float | None) -> str:
        """Reach step `number`'s people on its surface, then note it taken (the next step due at `next_at`) with what
        it did, audited, in one step: "ok", or "already" / "decided" / "missing" (nothing kept)."""
        people = still_to_decide(approval)
        surface, outcome, why = step.surface, SENT, ""
        reached: list[str] = []
        fallback = False
        if step.surface == ONCALL:
            found = await self._oncall_step(approval, step)
            if found is None:
                return "decided"  # decided meanwhile: nothing more is sent
            approval, people, surface, outcome, why, fallback = found
        reacher = self._reachers.get(surface)
        if outcome == SENT and reacher is None:
            outcome = SKIPPED
        elif outcome == SENT and not people:
            outcome = NOBODY
        elif outcome == SENT and reacher is not None:
            try:
                reached = await reacher.reach(approval, people)
            except Exception as exc:  # a surface failing is said on the card, never stops the route
                log.warning("approval %s: step %d (%s) failed (%s)", approval.id, number, step.where,
                            type(exc).__name__)
                outcome, why = UNAVAILABLE, f"{surface} failed"
            else:
                outcome = SENT if reached else NOBODY
        at = time.time()
        item: dict[str, Any] = {"step": number, "where": step.where, "surface": surface or step.where,
                                "outcome": outcome, "people": reached, "at": at, "why": why}
        entry = {"approval": approval.id, "run": approval.run_id, "channel": approval.origin_channel,
                 "step": str(number), "where": step.where, "surface": surface or step.where, "outcome": outcome,
                 "people": ",".join(reached), "due": repr(approval.created_at + step.after),
                 "waited_seconds": str(max(0, round(at - approval.created_at)))}
        if fallback:
            item["fallback"] = True
            entry["fallback"] = "yes"
            entry["why"] = why
        return await self._store.reach.said(approval.id, step=number, next_at=next_at, item=item, entry=entry)

    async def _oncall_step(self, approval: ApprovalRecord, step: ReachStep) -> tuple[
            ApprovalRecord, list[str], str, str, str, bool] | None:
        """An `oncall:` step: who is on call now (else the route's fallback approvers, as at the ask: never nobody
        silently), let in to decide (the policy still holds): (approval, people, surface, outcome, why, fallback);
        None when it was decided meanwhile."""
        surface = next((name for name in ONCALL_BY if name in self._reachers), "")
        outcome, why, fallback = SENT, "", False
        found = None if self.oncall is None else await self._on_call(step.schedule)
        people: list[str] = list(found or [])
        if not found:
            why = "no on-call provider is configured" if self.oncall is None else \
                "the on-call provider cannot say who is on call now"
            settings = await self._store.settings.get(approval.origin_channel,
                                                      default_timeout=approval.timeout_seconds)
            people, fallback = list(fallback_of(settings)), True
            if not people:
                outcome, why = UNAVAILABLE, f"{why}, and no fallback approvers are named"
        if outcome == SENT and people and surface:  # whom the step reached may decide (the policy still holds)
            approvers = await self._store.reach.let_in(approval.id, people)
            if approvers is None:
                return None
            approval = replace(approval, approvers=tuple(a for a in approvers.split(",") if a))
        return approval, people, surface, outcome, why, fallback

    async def _on_call(self, schedule: str) -> list[str] | None:
        assert self.oncall is not None
        try:
            return await self.oncall.now(schedule)
        except Exception as exc:  # a provider failing cannot answer (said unavailable)
            log.warning("on-call schedule %s: the provider failed (%s)", schedule, type(exc).__name__)
            return None


def still_to_decide(approval: ApprovalRecord) -> list[str]:
    """The approvers (people and groups) who have not voted, never its requester unless it may decide."""
    acted = set(approval.voters)
    return [who for who in approval.approvers if who not in acted
            and (who != approval.requester or approval.allow_self_approval)]
