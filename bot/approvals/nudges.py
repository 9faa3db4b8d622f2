"""Nobody forgets: reminders and escalations of approvals nobody has decided, on any worker; and a person whose
attestation (fit to decide, bot/approvals/attesting.py) ends within a week is told, once; and at the hour, the
approvals held for it (every approver over `max_asks_per_hour`) are sent, one batch per person
(bot/approvals/fatigue.py).

    opened (lua/open_approval.lua)   -> the first step's time in `nudges` (a reminder or the escalation)
    due (any worker's Nudger)        -> claim it for a lease (lua/claim_due.lua, as timeouts do)
                                     -> lua/nudge.lua: still pending? an escalation due lets its
                                        `escalate_to` decide, once (audited; the card is redrawn)
                                     -> each step due: `Nudged` published first (bot/approvals/events.py),
                                        once (lua/nudge_publish.lua): the other surfaces tell it whatever
                                        Slack answers (e-mail: bot/email/surface.py; Teams:
                                        bot/msteams/delivery.py); then posted in the card's thread,
                                        mentioning who may still decide (not who voted; a delegate for
                                        who is away), and in the direct messages of those who got the
                                        card there
                                     -> lua/nudged.lua: note them told (audited), schedule the next
    decided meanwhile                -> nothing noted, and the messages just posted are deleted

A step is published once whichever workers live and whatever Slack answers: the approval's `published` field
(the steps published so far) is set before the event, so a Slack post retried (Slack down: due again at the
claim's end) never publishes it again, and a worker that dies after publishing leaves it published: the surfaces
whose due sets the store was told (`Nudges.published_to`: e-mail's) have the approval due in the same Lua step as
the mark, so a worker killed before a listener's send claimed its mail loses none: that surface's due work sends
it, once.
A step is told once whichever workers live: the claim's lease keeps others off it, and a worker that
dies holding it leaves it due again when the lease ends. A worker that died after posting a step and
before noting it left the approval marked `telling`: the next one first reads each thread
(`conversations.replies`) for the step's message, by its metadata, and posts only what is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.approvals import attesting
from bot.approvals.card_sync import CardService
from bot.approvals.events import Events, Nudged
from bot.approvals.fatigue import HeldBatches
from bot.approvals.waiter import DueSweeper
from bot.core.records import ApprovalRecord, Step
from bot.core.service_levels import EVENTS as SLA_EVENTS
from bot.slack.blocks import escalation_text, reminder_text
from bot.slack.directory import Directory
from bot.store import Store

log = logging.getLogger(__name__)

SLACK_FAILED = (SlackApiError, aiohttp.ClientError, TimeoutError)
NUDGE_EVENT = "hitl_nudge"  # the metadata of a reminder's or escalation's message: {approval, step}


@dataclass(frozen=True, slots=True)
class Asked:
    """Whom one step asks (`Nudger._asked`): Slack's mentions, the delegates among them (-> for whom), the people they
    name, and the step as the other surfaces are told it."""

    mentions: list[str]
    delegated: dict[str, str]
    people: set[str]
    nudged: Nudged


class Nudger(DueSweeper):
    """Sends every worker's due reminders and escalations (see the module docstring)."""

    name = "nudger"

    def __init__(
        self,
        *,
        store: Store,
        slack: AsyncWebClient,
        directory: Directory,
        cards: CardService,
        max_sleep: float = 1.0,
        batch: int = 200,
        concurrency: int = 8,
        breached: Callable[[], None] | None = None,
        events: Events | None = None,
    ) -> None:
        super().__init__(max_sleep=max_sleep)
        self._events = events  # each step published (`Nudged`) for the other surfaces, before Slack
        self._breached = breached  # a breach told (the metric `hitl_sla_breaches`)
        self._store = store
        self._slack = slack
        self._directory = directory
        self._cards = cards
        self._batch = batch
        self._slots = asyncio.Semaphore(concurrency)
        self._batches = HeldBatches(store, slack, directory, cards)  # approvals held for the hour (fatigue)

    async def sweep(self, *, now: float | None = None) -> int:
        """Tell every step due by `now` (default: now), a batch of claimed approvals at a time; how many
        steps this worker told."""
        now = time.time() if now is None else now
        told = await self._attestations_ending(now) + await self._batches.send(now)
        while True:
            ids = await self._store.nudges.claim_due(now, limit=self._batch)
            approvals = await self._store.nudges.open(ids, now=now)
            counts = await asyncio.gather(*(self._nudge(approval, now) for approval in approvals))
            told += sum(counts)
            if len(ids) < self._batch:
                return told

    async def _attestations_ending(self, now: float) -> int:
        """Remind each person whose attestation ends within a week (a DM, once: the reminder is taken by one
        worker); how many were told. A reminder Slack refused is due again in an hour."""
        told = 0
        for due in await self._store.attestations.take_due(now, limit=self._batch):
            try:
                await self._slack.chat_postMessage(channel=due.user, text=attesting.reminder_text(due.scope, due.until,
                                                                                                  now=now))
                told += 1
            except SLACK_FAILED as exc:
                error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
                log.warning("an attestation's reminder to %s was not sent (%s): again in an hour", due.user, error)
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
            posted: list[tuple[str, str]] = []
            entries: list[dict[str, str]] = []
            sla_state = ""
            for ordinal, step in enumerate(steps, start=approval.nudged + 1):
                if step.kind in SLA_EVENTS:  # a service level's change: audited and drawn, nothing posted
                    sla_state = step.kind
                    entries.append(sla_entry(approval, step, now=now))
                    continue
                asked = await self._asked(approval, step, now)
                await self._publish(asked, ordinal=ordinal)  # the other surfaces first, once: Slack holds none
                try:
                    where = await self._tell(approval, step, asked, now)
                except SLACK_FAILED as exc:  # not told: due again at the claim's end
                    error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
                    log.warning("approval %s: a reminder was not posted (%s)", approval.id, error)
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
            for channel, ts in posted:
                with contextlib.suppress(*SLACK_FAILED):
                    await self._slack.chat_delete(channel=channel, ts=ts)
            return 0

    async def _asked(self, approval: ApprovalRecord, step: Step, now: float) -> Asked:
        """Who `step` asks: the mentions (people and groups who may still decide, a delegate for who is away) and, as
        the other surfaces are told it, the people they name (user groups' members: as Slack last said them)."""
        mentions, delegated = await self.still_to_decide(approval, now)
        people = await self._people(approval, mentions)
        nudged = Nudged(approval, step.kind, step.number, tuple(sorted(people)), tuple(sorted(delegated.items())))
        return Asked(mentions=mentions, delegated=delegated, people=people, nudged=nudged)

    async def _publish(self, asked: Asked, *, ordinal: int) -> None:
        """Publish the step (`Nudged`: e-mail and Teams tell it) before Slack is tried, once across every retry of
        its Slack post on any worker: the approval's `published` field says it was (lua/nudge_publish.lua)."""
        if self._events is None:
            return
        if await self._store.nudges.publishing(asked.nudged.approval.id, ordinal=ordinal) == "ok":
            self._events.publish(asked.nudged)

    async def _tell(self, approval: ApprovalRecord, step: Step, asked: Asked, now: float) -> list[tuple[str, str]]:
        """Post one step: in the card's thread (mentioning everyone who may still decide) and in each
        direct message holding a copy of the card whose person may (mentioning them). Returns where it was
        posted."""
        if step.kind == "escalate":
            self._cards.schedule(approval)  # "Escalated to ..." on the card now (the outbox has it too)
            await self._copies_for_escalation(approval)
        mentions, delegated, people = asked.mentions, asked.delegated, asked.people
        dms = await self._dm_owners(approval)
        posted: list[tuple[str, str]] = []
        names = await self._cards.names(approval)  # Teams-only approvers shown by name
        key = {"approval": approval.id, "step": f"{step.kind}-{step.number}"}
        for channel, ts in [(approval.card_channel, approval.card_ts), *approval.copy_cards]:
            owner = dms.get(channel)
            if channel.startswith("D") and (owner is None or owner not in people):
                continue  # a person's own copy: only when they are asked
            if approval.telling and ts and await self._posted_before(channel, ts, key):
                continue  # the nudger before died after posting it and before noting it told
            who = [owner] if owner is not None else mentions
            text = (
                escalation_text(approval, mentions=who, delegated=delegated, names=names)
                if step.kind == "escalate"
                else reminder_text(approval, number=step.number, mentions=who, delegated=delegated, now=now,
                                   names=names)
            )
            response = await self._slack.chat_postMessage(
                channel=channel,
                thread_ts=ts or None,
                text=text,
                unfurl_links=False,
                unfurl_media=False,
                metadata={"event_type": NUDGE_EVENT, "event_payload": key},
            )
            posted.append((str(response["channel"]), str(response["ts"])))
        return posted

    def _sla_changed(self, approval: ApprovalRecord) -> None:
        """Its service level's change is kept: its card (and the Homes showing it) redrawn now (the outbox has it
        too), a breach counted."""
        self._cards.schedule(approval)
        if approval.sla_state == "breached" and self._breached is not None:
            self._breached()

    async def _posted_before(self, channel: str, ts: str, key: dict[str, str]) -> bool:
        """Whether the thread of (channel, ts) holds this step's message already (by its metadata)."""
        response = await self._slack.conversations_replies(channel=channel, ts=ts, include_all_metadata=True, limit=200)
        for message in response.get("messages") or []:
            metadata = message.get("metadata") or {}
            if metadata.get("event_type") == NUDGE_EVENT and metadata.get("event_payload") == key:
                return True
        return False

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

    async def _people(self, approval: ApprovalRecord, mentions: Sequence[str]) -> set[str]:
        try:
            return await self._directory.people(mentions)
        except SLACK_FAILED as exc:
            log.warning("approval %s: user groups not read for reminders (%s)", approval.id, type(exc).__name__)
            return {m for m in mentions if not m.startswith("S")}

    async def _dm_owners(self, approval: ApprovalRecord) -> dict[str, str]:
        """Whose direct message each of the approval's DM cards is in ({channel: person})."""
        channels = {c for c, _ in [(approval.card_channel, ""), *approval.copy_cards] if c.startswith("D")}
        if not channels:
            return {}
        candidates = await self._people(approval, [a for a in approval.approvers])
        owners: dict[str, str] = {}
        for person in sorted(candidates):
            channel = await self._directory.dm_channel(person)
            if channel in channels:
                owners[channel] = person
        return owners

    async def _copies_for_escalation(self, approval: ApprovalRecord) -> None:
        """Where cards go by direct message, the people an escalation lets in get their copy too."""
        if not (approval.card_channel.startswith("D") or approval.copies):
            return
        people = await self._people(approval, approval.escalate_to)
        if not approval.allow_self_approval:
            people.discard(approval.requester)
        known = {copy.partition("/")[0] for copy in approval.copies} | {approval.card_channel}
        new: dict[str, str] = {}
        for person in sorted(people):
            channel = await self._directory.dm_channel(person)
            if channel is not None and channel not in known:
                new[channel] = ""
        if not new:
            return
        await self._store.approvals.note_copies(approval.id, new)  # before posting: a click on one counts
        posted = await self._cards.post_copies(replace(approval, copies=tuple(f"{c}/" for c in new)))
        if posted:
            await self._store.approvals.note_copies(approval.id, posted)


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
