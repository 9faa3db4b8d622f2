"""The push surface as a worker runs it (issue 90): a listener on the core's events, the drain of its due set and
`reach`, for other code to reach people by push now.

An approval stored pending (`ApprovalStored`, said by the chain's person end before its card is posted, so the push and
the card go in parallel; else `ApprovalOpened`, for a retry's approval) puts a send in `store.push_due` (`{p}:push:due`)
and sends it at once (a push is wanted within a second of the card), unless its route names a push step (`routed`:
pushed at that step's time); a reminder or an escalation (`Nudged`) pushes its own to each person it asked who has a
device. `drain` (the surface's `Drain` in `due_parts`, only with VAPID_PRIVATE_KEY) sends what is due, each push once
per (approval, person, kind) across workers through `PushSender` with its bounded retry, the reminders and the
escalation published (`published_kinds`) too: a published step puts the approval in this due set in the same Lua step as
its mark (the root adds the set to `Nudges.published_to`, as e-mail's), so a worker killed between them loses no push. A
push given up is audited (`push_given_up`) and counted (`hitl_push_sent_total{outcome}`). The people pushed are the
approval's approvers (a person with no device is left out; a group or an `email:` person has none); the core never
imports this module: the root subscribes `listener`."""

from __future__ import annotations

import base64
import importlib.util
import time
from collections.abc import Sequence
from typing import Final

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bot.approvals.events import ApprovalOpened, ApprovalStored, Event, Nudged
from bot.core.metrics import Metrics
from bot.core.push_settings import vapid_key
from bot.core.reach import steps_of
from bot.core.records import ApprovalRecord
from bot.core.settings import Settings, SettingsError, reveal
from bot.core.tasks import Background
from bot.links.sends import keep_for, pending_sends, published_kinds, reminder_kind, try_due
from bot.links.signed import Links, Same
from bot.push.devices import Lookup, system_lookup
from bot.push.links import push_links
from bot.push.payload import push_payload
from bot.push.sender import Push, PushSender, Result
from bot.store import Store
from bot.store.push import Subscription

LEASE: Final = 60.0  # seconds a worker holds a due entry while it sends (due again after it)
STARTED: Final = 10_000  # approvals remembered as started when stored, until they say they opened
REACHED: Final = frozenset({"sent", "already", "busy"})  # a push that went (or is going) out



def people_of(approval: ApprovalRecord) -> list[str]:
    """The people an approval's pushes may go to: its approvers, in order, once each."""
    return list(dict.fromkeys(p for p in approval.approvers if p))


def routed(approval: ApprovalRecord) -> bool:
    """Whether `approval`'s route (issue 90) names a push step: then it is pushed at that step's time (`reach`), not
    as it opens."""
    return any(step.surface == "push" for step in steps_of(approval.reach_route))


class PushSurface:
    """Sends approvals' pushes (see the module): `listener` for the root, `drain` for the due loop, `reach`."""

    def __init__(self, *, store: Store, sender: PushSender, links: Links, background: Background,
                 vapid_public: str, local_service: str = "", lease: float = LEASE) -> None:
        self._store = store
        self._sender = sender
        self._links = links
        self._background = background
        self._lease = lease
        self.vapid_public = vapid_public  # the page's `applicationServerKey` (base64url, uncompressed point)
        self.local_service = local_service  # a push service allowed over http (PUSH_LOCAL_SERVICE_URL)
        self._started: dict[str, None] = {}  # approvals whose pushes started when stored (oldest first)

    async def close(self) -> None:
        """Its connections to the push services closed (the worker stops)."""
        await self._sender.close()

    @property
    def links(self) -> Links:
        """Its actions' links (the confirm page checks and takes them, bot/push/pages.py)."""
        return self._links

    def listener(self, event: Event) -> None:
        """An approval stored pending: its pushes due now, beside its card (`ApprovalStored`, before the card is
        posted); one opened pending and not heard stored here (a retry's, another part's): the same; a reminder or
        escalation: its pushes sent (spawned)."""
        if isinstance(event, ApprovalStored):
            self._started[event.approval.id] = None
            while len(self._started) > STARTED:  # (an open that failed after storing never says it opened)
                del self._started[next(iter(self._started))]
            self._background.spawn(self.opened(event.approval.id), name="push-opened")
        elif isinstance(event, ApprovalOpened):
            if self._started.pop(event.answer.approval_id, False) is None:
                return  # (started when it was stored)
            if event.answer.decided is None and event.answer.status in ("ok", "exists"):
                self._background.spawn(self.opened(event.answer.approval_id), name="push-opened")
        elif isinstance(event, Nudged) and event.people:
            kind = "escalated" if event.kind == "escalate" else reminder_kind(event.number)
            self._background.spawn(self.nudge(event.approval, kind=kind, people=event.people), name="push-nudge")

    async def opened(self, approval_id: str) -> None:
        """An approval opened: its pushes due (kept across this worker's end), then sent at once, not at the due
        loop's next turn (the claims keep each push once when a drain takes them too)."""
        record = await self._store.approvals.get(approval_id)
        if record is None or not record.pending or routed(record):
            return  # (a route naming push pushes at its step's time: `reach`)
        await self.due(approval_id)
        later = [r.at for r in [await self._send(record, p, "opened") for p in people_of(record)]
                 if r.outcome in ("retry", "later", "busy")]
        if later:
            await self._store.push_due.add(record.id, due=min(later))
        else:  # (sent, or nobody has a device: nothing left due; a reminder published puts it back)
            await self._store.push_due.forget([record.id])

    async def due(self, approval_id: str) -> None:
        """`approval_id`'s pushes due now (any worker's push loop sends them)."""
        await self._store.push_due.add(approval_id, due=time.time())

    async def reach(self, approval: ApprovalRecord, people: Sequence[str], /) -> list[str]:
        """Push `approval` to each of `people` now (kind "reached": once per approval and person across workers):
        who was sent a push (or is being sent it by another worker); a person with no device is left out; one whose
        push services refused for now is due again at its retry time."""
        return await self.nudge(approval, kind="reached", people=people)

    async def nudge(self, approval: ApprovalRecord, *, kind: str, people: Sequence[str]) -> list[str]:
        """`approval`'s push of `kind` to each of `people` now: who was reached; a retry due at its time."""
        reached, later = [], []
        for person in dict.fromkeys(people):
            result = await self._send(approval, person, kind)
            if result.outcome in REACHED:
                reached.append(person)
            elif result.outcome in ("retry", "later"):
                later.append(result.at)
        if later:
            await self._store.push_due.add(approval.id, due=min(later))
        return reached

    async def drain(self) -> int:
        """The push due set: the approvals due now, each claimed for a while, sent in the background; how many."""
        found = await self._store.push_due.take(self._store.approvals, lease=self._lease)
        self._background.each(found, self.send, name="push-due")
        return len(found)

    async def send(self, approval: ApprovalRecord) -> None:
        """`approval`'s pushes: the opening one to each approver with a device, each reminder and escalation
        published to each approver still to decide, and any push whose retry is due; due again at the first retry
        left, else out of the due set. A decided approval pushes nothing."""
        later: list[float] = []
        if approval.pending:
            published = published_kinds(approval, await self._store.nudges.published(approval.id))
            fresh = {*(() if routed(approval) else ("opened",)), *published}
            states = await self._store.push.sent_states(approval.id)
            later = await try_due(_pushes(approval), fresh, states,
                                  lambda person, kind: self._send(approval, person, kind))
        await self._store.push_due.again(approval.id, later)

    async def _send(self, approval: ApprovalRecord, person: str, kind: str) -> Result:
        devices = await self._store.push.subscriptions(person) if approval.pending else []
        if not devices:
            return Result("none")
        link = await self._links.make(approval=approval.id, person=person, deadline=approval.deadline)
        now = time.time()
        keep = keep_for(approval.deadline, now)
        push = Push(approval_id=approval.id, person=person, kind=kind, keep=keep,
                    data=push_payload(approval, link=link, kind=kind))
        result = await self._sender.send(push, now=now, devices=devices)
        if result.outcome == "failed":
            await self._store.audit.append("push_given_up", by="system", approval=approval.id, person=person,
                                           kind=kind, attempts=result.attempts, surface="push")
        elif result.outcome == "sent":
            await self._store.push_due.shown(approval.id)
        return result



def _pushes(approval: ApprovalRecord) -> list[tuple[str, str]]:
    """The (person, kind) pushes a pending `approval` may have: its approvers' opening push, and its reminders' and
    escalation's to those still to decide."""
    return pending_sends(approval, people_of(approval))


def push_surface(settings: Settings, *, store: Store, background: Background, metrics: Metrics,
                 same: Same | None = None, lookup: Lookup = system_lookup) -> PushSurface | None:
    """The push surface (issue 90), with VAPID_PRIVATE_KEY (None without): its sender (resolving push services'
    hosts with `lookup`, its connections pinned to checked addresses) and its links (signed with a key derived from
    SECRETS_KEY; VAPID_PRIVATE_KEY without SECRETS_KEY is refused at the start)."""
    key = reveal(settings.vapid_private_key)
    if not key:
        return None
    if importlib.util.find_spec("pywebpush") is None:
        raise SettingsError("VAPID_PRIVATE_KEY is set but pywebpush is not installed: pip install"
                            " 'slack-agent-approvals[push]'")
    try:
        links = push_links(store.push, reveal(settings.secrets_key) or "", public_url=settings.public_url, same=same)
    except ValueError as exc:
        raise SettingsError(f"VAPID_PRIVATE_KEY: {exc}") from None

    async def gone(person: str, device: Subscription) -> None:
        await store.audit.append("push_gone", by="system", person=person, device=device.device, surface="push")

    async def refused(person: str, device: Subscription, why: str) -> None:
        await store.audit.append("push_refused", by="system", person=person, device=device.device, why=why,
                                 surface="push")

    sender = PushSender(store=store.push, vapid_key=key, subject=settings.vapid_subject, counter=metrics.push_sent,
                        gone=gone, refused=refused, local_service=settings.push_local_service_url, lookup=lookup)
    return PushSurface(store=store, sender=sender, links=links, background=background,
                       vapid_public=vapid_public_key(key), local_service=settings.push_local_service_url)


def vapid_public_key(private: str) -> str:
    """The VAPID key's public half as the page gives it to `PushManager.subscribe` (base64url, uncompressed point)."""
    point = vapid_key(private).public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(point).decode().rstrip("=")
