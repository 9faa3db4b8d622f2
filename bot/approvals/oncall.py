"""On-call schedules as approvers (issue 90), in the core: an approval whose approvers or `escalate_to` name
`oncall:<schedule>` goes to whoever is on call now, read at the ask (`OnCallRouting.at_ask`, by the chain's end,
bot/approvals/deciders/person.py) and again at its escalation (`at_escalation`, by the nudger, bot/approvals/nudges.py:
the people on call then join `escalate_to`, whom the escalation lets in and mentions). Who is on call is the
`OnCallSchedules` port's (bot/approvals/ports.py; bot/people/oncall.py's `OnCall`, given by the root).

A schedule that cannot be read (None: no provider, down, a bad token, an answer of another shape) or that has nobody
on call now sends the approval to the fallback approvers (the channel's `oncall_fallback`, else its `admins`): never
nobody, never silently. The record keeps which schedules were unread and who got it instead (`oncall_unread`,
`oncall_fallback`): every copy of its card says so ("On-call schedule payments could not be read: sent to the
fallback approvers @ana"), and it is audited `oncall_unread` (the chain's end, once the approval is stored; the
nudger, as the escalation is). With no fallback approver named either, the schedule itself stays its approver: an id
nobody decides as, so that nobody may approve it (a gate never fails open) and the card says so."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from bot.approvals.ports import OnCallSchedules
from bot.core.people import schedule_of
from bot.core.records import ApprovalRecord, ChannelSettings
from bot.store import Store, persistently


@dataclass(frozen=True, slots=True)
class Resolved:
    """Approvers with their `oncall:` entries read: the people (the fallback approvers for a schedule unread, or the
    schedule itself with no fallback), the schedules named and those unread."""

    people: tuple[str, ...]
    schedules: tuple[str, ...]
    unread: tuple[str, ...]


class OnCallRouting:
    """Reads the `oncall:` approvers of an approval (module docstring)."""

    def __init__(self, schedules: OnCallSchedules, store: Store) -> None:
        self._schedules = schedules
        self._store = store

    @property
    def schedules(self) -> OnCallSchedules:
        """Who is on call now, per schedule (a route's `oncall:` step asks it too: bot/approvals/reach.py)."""
        return self._schedules

    async def resolve(self, approvers: tuple[str, ...], fallback: tuple[str, ...]) -> Resolved:
        """`approvers` with each `oncall:<schedule>` replaced by the people on call now in it, or, when it cannot be
        read or nobody is on call, by `fallback` (else kept: nobody decides as it)."""
        people: list[str] = []
        schedules: list[str] = []
        unread: list[str] = []
        for approver in approvers:
            schedule = schedule_of(approver)
            if schedule is None:
                people.append(approver)
                continue
            schedules.append(schedule)
            found = await self._schedules.now(schedule)
            if found:
                people += found
            else:
                unread.append(schedule)
                people += fallback or (approver,)
        return Resolved(tuple(dict.fromkeys(people)), tuple(dict.fromkeys(schedules)), tuple(dict.fromkeys(unread)))

    async def at_ask(self, approval: ApprovalRecord, settings: ChannelSettings) -> ApprovalRecord:
        """`approval` with its `oncall:` approvers and `escalate_to` read now (unchanged when it names none)."""
        if not any(schedule_of(a) for a in (*approval.approvers, *approval.escalate_to)):
            return approval
        fallback = fallback_of(settings)
        approvers = await self.resolve(approval.approvers, fallback)
        escalate_to = await self.resolve(approval.escalate_to, fallback)
        unread = tuple(dict.fromkeys((*approvers.unread, *escalate_to.unread)))
        return replace(approval, approvers=approvers.people, escalate_to=escalate_to.people,
                       oncall=tuple(dict.fromkeys((*approvers.schedules, *escalate_to.schedules))),
                       oncall_unread=unread, oncall_fallback=fallback if unread else ())

    async def at_escalation(self, approval: ApprovalRecord, now: float) -> bool:
        """Before `approval`'s escalation (due by `now`, not yet done) lets `escalate_to` in: the schedules it named
        read again, the people on call now (or the fallback approvers) added to its `escalate_to` (lua/nudge.lua then
        lets them in and the escalation mentions them). Whether it changed anything."""
        if not approval.oncall or not approval.pending or approval.escalated_at or approval.escalate_after <= 0:
            return False
        if approval.created_at + approval.escalate_after > now:
            return False
        settings = await self._store.settings.get(approval.origin_channel, default_timeout=approval.timeout_seconds)
        fallback = fallback_of(settings)
        read = await self.resolve(tuple(f"oncall:{s}" for s in approval.oncall), fallback)
        escalate_to = tuple(dict.fromkeys((*approval.escalate_to, *read.people)))
        changed = await self._store.nudges.escalating_to(approval.id, escalate_to, unread=read.unread,
                                                         fallback=fallback if read.unread else ())
        if changed and read.unread:
            await self.audit_unread(replace(approval, oncall_unread=read.unread, oncall_fallback=fallback),
                                    step="escalation")
        return changed

    async def audit_unread(self, approval: ApprovalRecord, *, step: str) -> None:
        """Audit that `approval`'s schedules could not be read at `step` (ask, escalation) and who got it instead."""
        if not approval.oncall_unread:
            return
        await persistently(lambda: self._store.audit.append(
            "oncall_unread", at=repr(time.time()), approval=approval.id, run=approval.run_id,
            channel=approval.origin_channel, step=step, schedules=",".join(approval.oncall_unread),
            fallback=",".join(approval.oncall_fallback) or "nobody"), what="auditing an unread on-call schedule")


def fallback_of(settings: ChannelSettings) -> tuple[str, ...]:
    """Who gets an approval whose on-call schedule cannot be read: the channel's `oncall_fallback`, else its
    `admins` (empty: nobody named)."""
    return settings.oncall_fallback or settings.admins
