"""The e-mail surface as a worker runs it (issue 88): a listener on the core's events and the drain of its due set.

An approval opened pending puts a send in `store.email_due` (`{p}:email:due`); a reminder or an escalation (`Nudged`,
published before Slack is tried) sends its own mail to each e-mail person it asked; a decision on any surface
(`ApprovalDecided`) is told to each `email:<address>` its ask named in `notify` (only those: where the ask asks).
`drain` (the surface's `Drain` in `due_parts`, only with SMTP_URL) sends what is due, each mail once per (approval,
person, kind) across workers through `Sender` with its bounded retry, the reminders and the escalation published
(`published_kinds`) too: a published step puts the approval in this due set in the same Lua step as its mark
(lua/nudge_publish.lua, the set named by the root in `Nudges.published_to`), so a worker killed between publishing a
step and this surface's claim of its mail leaves it to any worker's drain: exactly once (the claims), not at most
once.
That is simpler than a sweep reconciling every pending approval's `published` field, and the core never names the
e-mail surface (the store is told its due set). a mail the server does not take keeps the
approval due at its retry time; a mail given up is audited (`email_given_up`) and counted
(`hitl_email_sent_total{outcome}`). An e-mail person is an approver id `email:<address>`; groups and Slack or Teams
people are the other surfaces'. The core never imports this module: the root subscribes `listener`."""

from __future__ import annotations

import importlib.util
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

from bot.approvals.events import ApprovalDecided, ApprovalOpened, Event, Nudged
from bot.core.metrics import Metrics
from bot.core.records import ApprovalRecord
from bot.core.settings import Settings, SettingsError, reveal
from bot.core.tasks import Background
from bot.email.links import LinkKeys, Links, Same
from bot.email.messages import approval_mail, decided_mail, parked_mail
from bot.email.sender import Mail, Result, Sender
from bot.links.sends import keep_for, pending_sends, published_kinds, reminder_kind, try_due
from bot.store import Store

log = logging.getLogger(__name__)

PREFIX: Final = "email:"
DECIDED: Final = "decided"  # the mail telling its decision, to the people its ask names in `notify`
REACHED: Final = "reached"  # a route's e-mail step (issue 90): the approval mail, once per person
LEASE: Final = 60.0  # seconds a worker holds a due entry while it sends (due again after it)
Elsewhere = Callable[[ApprovalRecord], Awaitable[bool]]  # whether an approval is shown on a surface besides Slack
EmailOf = Callable[[str], Awaitable[str]]  # a person's verified address ("": none)



def email_people(people: Sequence[str]) -> list[str]:
    """The e-mail persons among `people` (`email:<address>`), in order, once each."""
    return list(dict.fromkeys(p for p in people if p.startswith(PREFIX) and len(p) > len(PREFIX)))


class EmailSurface:
    """Sends approvals' e-mails (see the module): `listener` for the root to subscribe, `drain` for the due loop."""

    def __init__(self, *, store: Store, sender: Sender, links: Links, background: Background,
                 lease: float = LEASE, email_of: EmailOf | None = None) -> None:
        self._email_of = email_of  # a person's verified address (People's `email_of`): a route's e-mail step
        self._store = store
        self._sender = sender
        self._links = links
        self._background = background
        self._lease = lease

    @property
    def links(self) -> Links:
        """Its Review-and-decide links (the page checks and takes them, bot/email/pages.py)."""
        return self._links

    def elsewhere(self, before: Elsewhere | None) -> Elsewhere:
        """The core's `Delivery.elsewhere` with e-mail: an approval with an e-mail approver waits for their mail when
        Slack refuses the bot token (as one routed to Teams does, `before`), instead of being cancelled."""
        async def shown_elsewhere(approval: ApprovalRecord) -> bool:
            return bool(email_people(approval.approvers)) or (before is not None and await before(approval))

        return shown_elsewhere

    def listener(self, event: Event) -> None:
        """An approval opened pending: its mails due now; a reminder or escalation: its mails sent (spawned); a
        decision, on any surface: told to the people its ask names in `notify` (spawned)."""
        if isinstance(event, ApprovalOpened):
            if event.answer.decided is None and event.answer.status in ("ok", "exists"):
                self._background.spawn(self.due(event.answer.approval_id), name="email-due")
        elif isinstance(event, Nudged):
            kind = "escalated" if event.kind == "escalate" else reminder_kind(event.number)
            people = email_people(event.people)
            if people:
                self._background.spawn(self.nudge(event.approval, kind=kind, people=people), name="email-nudge")
        elif isinstance(event, ApprovalDecided):
            told = email_people(event.approval.notify)
            if told and not event.approval.pending and not event.approval.canary:
                self._background.spawn(self.nudge(event.approval, kind=DECIDED, people=told), name="email-decided")

    async def due(self, approval_id: str) -> None:
        """`approval_id`'s mails due now (any worker's e-mail loop sends them)."""
        await self._store.email_due.add(approval_id, due=time.time())

    async def nudge(self, approval: ApprovalRecord, *, kind: str, people: Sequence[str]) -> None:
        """`approval`'s mail of `kind` to each of `people` now; one the server did not take due at its retry time."""
        later = [r.at for r in [await self._send(approval, p, kind) for p in people] if r.outcome == "retry"]
        if later:
            await self._store.email_due.add(approval.id, due=min(later))

    async def reach(self, approval: ApprovalRecord, people: Sequence[str], /) -> list[str]:
        """A route's e-mail step (the `email` `Reacher`, bot/approvals/reach.py): the approval mail now to each of
        `people` with an address (an `email:` person's own, else their verified one), once per person across
        workers; the people the server took it for (one it did not take now is not reached: said on the card)."""
        reached: list[str] = []
        for person in people:
            address = person.removeprefix(PREFIX) if person.startswith(PREFIX) else ""
            if not address and self._email_of is not None:
                try:
                    address = await self._email_of(person)
                except Exception as exc:  # a surface that cannot say now (CannotCheck): not reached
                    log.info("approval %s: no address for %s now (%s)", approval.id, person, type(exc).__name__)
            if not address:
                continue
            link = await self._links.make(approval=approval.id, person=PREFIX + address, deadline=approval.deadline)
            now = time.time()
            keep = keep_for(approval.deadline, now)
            mail = Mail(approval_id=approval.id, person=PREFIX + address, kind=REACHED, to=address, keep=keep,
                        rendered=approval_mail(approval, link=link))
            result = await self._sender.send(mail, now=now)
            if result.outcome in ("sent", "already"):
                reached.append(person)
        return reached

    async def parked_digest(self, person: str, approvals: Sequence[ApprovalRecord], /) -> bool:
        """The weekly digest of parked `approvals` mailed to `person` (an `email:<address>` admin: no Slack to DM);
        whether it was sent (False: not an e-mail person, or the server did not take it)."""
        if not email_people([person]) or not approvals:
            return False
        now = time.time()
        mail = Mail(approval_id=f"parked-{int(now)}", person=person, kind="parked", to=person.removeprefix(PREFIX),
                    keep=0, rendered=parked_mail(approvals))
        return await self._sender.send_taken(mail)

    async def drain(self) -> int:
        """The e-mail due set: the approvals due now, each claimed for a while, sent in the background (a mail
        server slow or down never holds the loop); how many were taken."""
        found = await self._store.email_due.take(self._store.approvals, lease=self._lease)
        self._background.each(found, self.send, name="email-due")
        return len(found)

    async def send(self, approval: ApprovalRecord) -> None:
        """`approval`'s mails: the opening one to each e-mail approver and each reminder and escalation published
        (`published_kinds`) to each e-mail approver still to decide, unless sent or given up, and any mail (a
        decision told too) whose retry is due; the approval due again at the first retry left (or another sender's
        claim's end), else out of the due set."""
        fresh = {"opened", *published_kinds(approval, await self._store.nudges.published(approval.id))} \
            if approval.pending else set()  # (a decision told: by the deciding worker's listener, retried here)
        states = await self._store.email.sent_states(approval.id)
        later = await try_due(_mails(approval), fresh, states, lambda person, kind: self._send(approval, person, kind))
        await self._store.email_due.again(approval.id, later)

    async def _send(self, approval: ApprovalRecord, person: str, kind: str) -> Result:
        address = person.removeprefix(PREFIX)
        if kind == DECIDED:  # nothing to decide: no link
            rendered = decided_mail(approval)
        else:
            link = await self._links.make(approval=approval.id, person=person, deadline=approval.deadline)
            rendered = approval_mail(approval, link=link, kind=kind.partition("-")[0])
        now = time.time()
        keep = keep_for(approval.deadline, now)
        mail = Mail(approval_id=approval.id, person=person, kind=kind, to=address, keep=keep, rendered=rendered)
        result = await self._sender.send(mail, now=now)
        if result.outcome == "failed":
            await self._store.audit.append("email_given_up", by="system", approval=approval.id, person=person,
                                           kind=kind, attempts=result.attempts)
        return result



def _mails(approval: ApprovalRecord) -> list[tuple[str, str]]:
    """The (person, kind) mails `approval` may have: pending, its e-mail approvers' opening mail, and its reminders'
    and escalation's to those of them still to decide (not voted: as the nudger asks them); decided, the one telling
    its decision to the people its ask names in `notify`."""
    if approval.pending:
        return pending_sends(approval, email_people(approval.approvers))
    return [(person, DECIDED) for person in email_people(approval.notify)]


def email_surface(settings: Settings, *, store: Store, background: Background, metrics: Metrics,
                  same: Same | None = None, email_of: EmailOf | None = None) -> EmailSurface | None:
    """The e-mail surface (issue 88), with SMTP_URL (None without): its sender and its links (signed with a key
    derived from SECRETS_KEY; SMTP_URL without SECRETS_KEY is refused at the start; `same`: People's, whether a
    signed-in person is the one a link was made for by another account of theirs)."""
    server = settings.smtp
    if server is None:
        return None
    if importlib.util.find_spec("aiosmtplib") is None:
        raise SettingsError("SMTP_URL is set but aiosmtplib is not installed: pip install"
                            " 'slack-agent-approvals[email]'")
    try:
        keys = LinkKeys.from_secrets_key(reveal(settings.secrets_key) or "")
    except ValueError as exc:
        raise SettingsError(f"SMTP_URL: {exc}") from None
    sender = Sender(store=store.email, server=server, sender=settings.email_from, reply_to=settings.email_reply_to,
                    counter=metrics.email_sent)
    links = Links(store.email, keys, public_url=settings.public_url, same=same)
    return EmailSurface(store=store, sender=sender, links=links, background=background, email_of=email_of)

