"""Change tickets as a worker runs them (issue 91): a listener on the core's events and the drain of their due set.

An approval opened pending in a channel whose `ticket` setting names a system (`jira`, `servicenow`) begins its ticket
record (`store.tickets.want`, once) and is put in the tickets' due set now (`store.tickets_due`, `{p}:tickets:due`);
its decision (`ApprovalDecided`, on any worker) puts it there now again. `drain` (the due loop's `tickets` kind, with a
system set up) takes the approvals due, each leased to one worker, and does each one's step in the background, so a
ticket system slow or down never holds a decision, a card or another loop:

- not opened yet: the system is asked first for a change already carrying the approval's id (a worker that opened
  one, then died before keeping its key), else one is opened; its key is kept at once and linked on the approval, whose
  card is then redrawn (`store.outbox`) with a line naming it;
- decided: the ticket is closed with the decision, who and when (Jira: a comment, once, then the done transition;
  ServiceNow: state, close_code, close_notes), and leaves the due set;
- still pending: due again after it is opened, then every RECHECK seconds, so that a decision whose worker died
  before telling the tickets still closes its ticket.

An approval's route is kept on it as it opens (`ticket_route`: its channel's `ticket` then, or a policy's @ticket), so
a worker's start (`catch_up`) wants the ticket of each pending approval whose worker died before telling this desk.

A system that refuses or does not answer leaves the approval due at its next retry (TICKET_RETRIES); after the last
the ticket is given up: audited (`ticket_given_up`) and counted (`hitl_tickets_total{outcome="failed"}`), as is a
channel's `ticket` naming a system this deployment did not set up. The core never imports this module: the root
subscribes `listener`."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from prometheus_client import Counter

from bot.approvals.events import ApprovalDecided, ApprovalOpened, Event
from bot.core.metrics import Metrics
from bot.core.records import ApprovalRecord
from bot.core.settings import Settings
from bot.core.tasks import Background
from bot.store import Store
from bot.store.tickets import TicketRecord
from bot.tickets.systems import Change, Closing, Found, TicketFailed, TicketSystem, ticket_systems

log = logging.getLogger(__name__)

RECHECK: Final = 300.0  # seconds between looks at a pending approval's open ticket (a decision not told: closed then)
LEASE_AFTER: Final = 5.0  # a worker's lease on a due approval: each of its calls' timeouts (up to 3), and this
TEXT: Final = 2000  # characters of the task and of the arguments a ticket carries


@dataclass(frozen=True, kw_only=True, eq=False)  # (a part: the same one only, as any object)
class TicketDesk:
    """Opens and closes approvals' change tickets (see the module): `listener` for the root, `drain` for the loop.
    Its parts: the store, the ticket systems by name, the worker's background tasks, the tickets counter, the pauses
    between tries and a worker's lease on a due approval."""

    store: Store
    systems: Mapping[str, TicketSystem]
    background: Background
    counter: Counter | None
    retries: tuple[int, ...]
    lease: float

    def listener(self, event: Event) -> None:
        """An approval opened pending where a ticket is wanted: its ticket due now; a decision: its ticket's close."""
        if isinstance(event, ApprovalOpened):
            answer = event.answer
            if answer.decided is None and answer.status == "ok":
                self.background.spawn(self.opened(answer.approval_id), name="ticket-want")
        elif isinstance(event, ApprovalDecided) and not event.approval.canary:
            self.background.spawn(self.decided(event.approval.id), name="ticket-decided")

    async def opened(self, approval_id: str) -> None:
        """An approval opened pending: its ticket wanted where its route names a system (`ticket_route`: its
        channel's `ticket`, or a policy's @ticket)."""
        record = await self.store.approvals.get(approval_id)
        if record is not None and record.pending and record.ticket_route:
            await self.want(approval_id, system=record.ticket_route)

    async def catch_up(self) -> int:
        """At a worker's start: each pending approval whose route wants a ticket and has no ticket record yet (its
        worker died between opening it and telling this desk) wanted now; how many."""
        found = [a for a in await self.store.approvals.pending() if a.ticket_route]
        told = 0
        for approval in found:
            if await self.store.tickets.get(approval.id) is None:
                await self.want(approval.id, system=approval.ticket_route)
                told += 1
        if told:
            log.info("%d pending approvals' change tickets wanted at start (not told before)", told)
        return told

    async def want(self, approval_id: str, *, system: str) -> None:
        await self.store.tickets.want(approval_id, system=system)
        await self.store.tickets_due.add(approval_id, due=time.time())

    async def decided(self, approval_id: str) -> None:
        """A decision: the approval's ticket, if it has one, due its close now."""
        if await self.store.tickets.get(approval_id) is not None:
            await self.store.tickets_due.add(approval_id, due=time.time())

    async def drain(self) -> int:
        """The tickets' due set: the approvals due now, each leased to this worker, worked in the background."""
        found = await self.store.tickets_due.take(self.store.approvals, lease=self.lease)
        self.background.each(found, self.work, name="tickets-due")
        return len(found)

    async def work(self, approval: ApprovalRecord) -> None:
        """`approval`'s ticket's step due: open it, close it, or look again later; retried when the system fails."""
        record = await self.store.tickets.get(approval.id)
        if record is None or record.state in ("closed", "failed"):
            await self.store.tickets_due.forget([approval.id])
            return
        system = self.systems.get(record.system)
        if system is None:
            await self._give_up(record, "open", why=f"{record.system} is not set up on this worker")
            return
        step = "open" if record.state == "wanted" else "close"
        try:
            if record.state == "wanted":
                record = await self._open(system, record, approval)
                approval = await self._after_open(approval)
            if not approval.pending:
                step = "close"
                await self._close(system, record, approval)
        except TicketFailed as exc:
            await self._failed(record, step, why=exc.why)
        except (KeyError, TypeError, AttributeError) as exc:  # an answer not of the API's shape
            await self._failed(record, step, why=f"unexpected answer ({type(exc).__name__})")

    async def _open(self, system: TicketSystem, record: TicketRecord, approval: ApprovalRecord) -> TicketRecord:
        found = await system.find(approval.id)  # one opened by a worker that died before keeping its key
        if found is None:
            found = await system.open(change_of(approval))
        opened = await self.store.tickets.opened(record, key=found.key, ref=found.ref, url=found.url)
        await self.store.outbox.add(approval.id, due=time.time())  # its card redrawn, naming the ticket
        await self.store.audit.append("ticket_opened", by="system", approval=approval.id, system=record.system,
                                       ticket=found.key)
        self._count(record.system, "open", "done")
        log.info("approval %s: change %s opened in %s", approval.id, found.key, record.system)
        return opened

    async def _after_open(self, approval: ApprovalRecord) -> ApprovalRecord:
        """Due again later, then read again: a decision before this read is closed now, one after it is told to the
        due set by its listener (its `add` comes after this one)."""
        await self.store.tickets_due.add(approval.id, due=time.time() + RECHECK)
        return await self.store.approvals.get(approval.id) or approval

    async def _close(self, system: TicketSystem, record: TicketRecord, approval: ApprovalRecord) -> None:
        async def commented() -> None:
            await self.store.tickets.note(approval.id, commented=1)

        ticket = Found(key=record.key, ref=record.ref, url=record.url)
        await system.close(ticket, closing_of(approval), commented=record.commented, on_comment=commented)
        await self.store.tickets.note(approval.id, state="closed", tries=0)
        await self.store.tickets_due.forget([approval.id])
        await self.store.audit.append("ticket_closed", by="system", approval=approval.id, system=record.system,
                                       ticket=record.key, outcome=approval.status)
        self._count(record.system, "close", "done")

    async def _failed(self, record: TicketRecord, step: str, *, why: str) -> None:
        tries = record.tries + 1
        if tries > len(self.retries):
            await self._give_up(record, step, why=why, tries=tries)
            return
        after = self.retries[tries - 1]
        await self.store.tickets.note(record.approval_id, tries=tries)
        await self.store.tickets_due.add(record.approval_id, due=time.time() + after)
        self._count(record.system, step, "retry")
        log.info("approval %s: %s did not %s its change ticket (%s); tried again in %d s", record.approval_id,
                 record.system, step, why, after)

    async def _give_up(self, record: TicketRecord, step: str, *, why: str, tries: int = 0) -> None:
        await self.store.tickets.note(record.approval_id, state="failed", tries=tries)
        await self.store.tickets_due.forget([record.approval_id])
        await self.store.audit.append("ticket_given_up", by="system", approval=record.approval_id,
                                       system=record.system, step=step, attempts=tries, reason=why[:200])
        self._count(record.system, step, "failed")
        log.warning("approval %s: its change ticket in %s was given up at its %s after %d tries (%s)",
                    record.approval_id, record.system, step, tries, why)

    def _count(self, system: str, step: str, outcome: str) -> None:
        if self.counter is not None:
            self.counter.labels(system, step, outcome).inc()


def change_of(approval: ApprovalRecord) -> Change:
    """What `approval`'s change ticket says: what is asked, by whom, where (the arguments as the card shows them:
    hidden values masked)."""
    what = f"{approval.tool_name} call" if approval.kind == "tool_call" and approval.tool_name else approval.kind
    task = " ".join(approval.task.split())
    lines = [
        f"Approval {approval.id}: {what}, waiting for a decision.",
        f"Task: {task[:TEXT]}",
        f"Asked by {approval.asked_by or approval.requester} in channel {approval.origin_channel}.",
        f"Arguments: {approval.arguments[:TEXT]}" if approval.arguments else "",
        f"Decide by {_when(approval.deadline)}." if approval.deadline else "",
    ]
    return Change(approval_id=approval.id, summary=f"Approval: {what} · {task[:120]}",
                  lines=tuple(line for line in lines if line))


def closing_of(approval: ApprovalRecord) -> Closing:
    """How `approval` ended, for its ticket: the decision, who and when, and the reason given."""
    who = approval.decided_by or "nobody (the approval timed out)"
    lines = [f"Decision: {approval.status} by {who} at {_when(approval.decided_at or time.time())}."]
    if approval.feedback.strip() and approval.status != "timed_out":
        lines.append(f"Reason: {' '.join(approval.feedback.split())[:TEXT]}")
    return Closing(approved=approval.status == "approved", lines=tuple(lines))


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ticket_desk(settings: Settings, *, store: Store, background: Background, metrics: Metrics) -> TicketDesk | None:
    """The change tickets' desk, with JIRA_URL or SERVICENOW_URL (None without either)."""
    systems = ticket_systems(settings)
    if not systems:
        return None
    return TicketDesk(store=store, systems=systems, background=background, counter=metrics.tickets,
                      retries=settings.ticket_retries, lease=3 * settings.ticket_timeout + LEASE_AFTER)
