"""Keeps approval cards in Slack in step with Redis (the Slack surface's; the core asks its redraws through the
port `CardRedraws`, bot/approvals/ports.py)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.records import ApprovalRecord
from bot.core.service_levels import urgency
from bot.core.tasks import RunsFirst, stop_task
from bot.slack.blocks import (
    approval_fallback_text,
    build_approval_blocks,
    build_decided_blocks,
    build_replaced_blocks,
    item_summary,
    safe,
    untrusted,
    untrusted_parts,
)
from bot.slack.blocks.approval_card import build_not_taken_blocks, build_outcome_blocks
from bot.slack.blocks.text import TASK_LIMIT, context_block, permalink
from bot.slack.directory import Directory
from bot.slack.workspaces import TOKEN_GONE
from bot.store import Store, StoreUnavailable
from bot.store.freezes import frozen_scope, frozen_words

log = logging.getLogger(__name__)

MAX_PARTS = 40  # thread messages of at most 2,900 characters when a file upload is refused
DRAWN_MEMORY = 10_000  # cards whose last drawn state is remembered (so a late, older state is not drawn over it)
SHOWN_FOR = 30.0  # seconds a card this worker drew is taken to still show that state (`shows`)


Rank = tuple[int, int, int, int]


def _rank(approval: ApprovalRecord) -> Rank:
    """How far along a card's state is: decided after pending, more votes after fewer, escalated after not, a
    service level at risk after within, breached after at risk."""
    return (0 if approval.pending else 1, len(approval.voters), 1 if approval.escalated_at else 0,
            2 - urgency(approval.sla_state))


class CardService:
    """Posts a pending approval's card and rewrites it once decided (with `chat.update`, which,
    unlike `response_url`, works however late the decision comes).

    The decide step itself puts the approval in the outbox (a sorted set by due time), in the same
    atomic step as the decision; once the card, its copies and then (`after_draw`, off the senders'
    queue) the affected Homes are redrawn, it is taken out. So if Slack refuses, or this worker
    dies before it could update the card, any worker's supervisor updates it later.

    Redraws go through a queue drained by `concurrency` senders, so a burst of decisions neither
    competes with the clicks' answers for the event loop nor sends Slack more `chat.update` calls at
    once than its rate limits allow (Tier 3; a 429 makes that sender wait `Retry-After`). One card's
    redraws are drawn in order by one sender, an older state never replaces a newer one, and redraws
    queued for the same card are merged into the newest."""

    def __init__(
        self,
        slack: AsyncWebClient,
        *,
        store: Store | None = None,
        retry_after: float = 2.0,
        concurrency: int = 4,
        shared: Callable[[str], Awaitable[bool]] | None = None,
        runs_first: RunsFirst | None = None,
        pages: str = "",
    ) -> None:
        self.pages = pages  # the bot's pages' base URL (STEP_UP_URL, else PUBLIC_URL): a card links its whole change
        self._runs_first = runs_first or RunsFirst()  # a redraw waits while a run this worker woke goes on
        # whether a channel is shared with other organizations (`Directory.shared`): its cards say who may decide
        self._shared = shared
        # after a redraw, what else shows the approval (each affected person's App Home); False keeps
        # the approval in the outbox, to be redrawn again
        self.after_draw: Callable[[ApprovalRecord], Awaitable[bool]] | None = None
        self._slack = slack
        self._store = store  # where refused updates wait to be retried (the outbox)
        self._workspace_url: str | None = None  # for links to cards (`link`), asked once
        self._retry_after = retry_after
        self._queues: list[asyncio.Queue[str]] = [asyncio.Queue() for _ in range(max(1, concurrency))]
        self._newest: dict[str, ApprovalRecord] = {}  # queued: the newest state of each card
        # cards drawn lately: the rank drawn (an older state is never drawn over it) and, when Slack
        # took it, when (a replayed click does not redraw an unchanged card)
        self._drawn: collections.OrderedDict[str, tuple[Rank, float | None]] = collections.OrderedDict()
        self._senders: list[asyncio.Task[None]] = []
        self._drawn_ok: list[ApprovalRecord] = []  # drawn, still in the outbox: taken out in one call
        # drawn, waiting for `after_draw` (the Homes) before leaving the outbox; the senders go on meanwhile
        self._finishing: dict[str, asyncio.Task[None]] = {}
        self._again: dict[str, ApprovalRecord] = {}  # a newer state drawn while its Homes were being redrawn
        self._closed = False

    # the queue ----------------------------------------------------------------------------
    @property
    def slack(self) -> AsyncWebClient:
        """The Web API client the cards are posted with."""
        return self._slack

    def schedule(self, approval: ApprovalRecord) -> None:
        """Queue a redraw of `approval`'s card as this record has it (pending: its votes; else the decision)."""
        if self._closed or not approval.card_ts:
            return  # closing: the outbox has it, for any worker
        rank = _rank(approval)
        drawn = self._drawn.get(approval.id)
        if drawn is not None and rank < drawn[0]:
            return  # a newer state is already on the card
        queued = self._newest.get(approval.id)
        if queued is not None:
            if rank >= _rank(queued):
                self._newest[approval.id] = approval
            return
        self._newest[approval.id] = approval
        if not self._senders:
            self._senders = [
                asyncio.create_task(self._send(queue), name=f"card-sender-{n}") for n, queue in enumerate(self._queues)
            ]
        self._queues[zlib.crc32(approval.id.encode()) % len(self._queues)].put_nowait(approval.id)

    def shows(self, approval: ApprovalRecord) -> bool:
        """Whether this worker drew `approval`'s card in this state, without error, in the last
        `SHOWN_FOR` seconds (or is about to): a redraw would change nothing."""
        queued = self._newest.get(approval.id)
        if queued is not None and _rank(queued) >= _rank(approval):
            return True  # this state, or a newer one, is about to be drawn
        drawn = self._drawn.get(approval.id)
        if drawn is None or drawn[0] != _rank(approval) or drawn[1] is None:
            return False
        return time.monotonic() - drawn[1] < SHOWN_FOR

    @property
    def queued(self) -> list[str]:
        """Ids of the cards this worker is redrawing (queued, or drawn and about to leave the outbox):
        the supervisor keeps their outbox entries from the other workers."""
        return [*self._newest, *self._finishing, *(a.id for a in self._drawn_ok)]

    async def _send(self, queue: asyncio.Queue[str]) -> None:
        while True:
            approval_id = await queue.get()
            await self._runs_first.turn()  # the run a decision woke first (redraws queued meanwhile merge)
            approval = self._newest.pop(approval_id)
            try:
                if approval.pending and self._store is not None:
                    # a vote's redraw may have waited: if the approval was decided since (on any
                    # worker), draw that, not buttons over the decision
                    approval = await self._store.approvals.get(approval_id) or approval
                rank = _rank(approval)
                self._remember(approval_id, rank, None)
                if await self.refresh(approval):
                    self._remember(approval_id, rank, time.monotonic())
                    if self.after_draw is None:
                        self._drawn_ok.append(approval)
                    else:
                        self._finish_later(approval)
                if self._drawn_ok and (queue.empty() or len(self._drawn_ok) >= 100):
                    await self._outbox_done()
            except Exception:
                log.exception("card redraw of approval %s failed", approval_id)
            finally:
                queue.task_done()

    def _finish_later(self, approval: ApprovalRecord) -> None:
        if approval.id in self._finishing:  # one at a time per approval: this state goes next
            self._again[approval.id] = approval
            return
        self._finishing[approval.id] = asyncio.create_task(self._finish(approval), name=f"after-draw-{approval.id}")

    async def _finish(self, approval: ApprovalRecord) -> None:
        """What else shows the approval (the Homes), off the senders' queue; then out of the outbox, with the
        others drawn meanwhile once the last of them is done. If that fails, the outbox entry stays and any worker
        redraws everything again later. The task stays in `_finishing` until all of it is done, so `drain` waits
        for (or stops) its last Redis call too, before the store closes."""
        try:
            assert self.after_draw is not None
            if await self.after_draw(approval):
                self._drawn_ok.append(approval)
            # the last one finishing (only this one left) takes out what the others drew meanwhile
            if self._drawn_ok and (len(self._finishing) == 1 or len(self._drawn_ok) >= 100):
                await self._outbox_done()
        except Exception:
            log.exception("redraw after the card of approval %s failed", approval.id)
        finally:
            self._finishing.pop(approval.id, None)
            newer = self._again.pop(approval.id, None)
            if newer is not None and not self._closed:
                self._finish_later(newer)

    def _remember(self, approval_id: str, rank: Rank, shown_at: float | None) -> None:
        self._drawn[approval_id] = (rank, shown_at)
        self._drawn.move_to_end(approval_id)
        if len(self._drawn) > DRAWN_MEMORY:
            self._drawn.popitem(last=False)

    async def _outbox_done(self) -> None:
        drawn, self._drawn_ok = self._drawn_ok, []
        if self._store is not None and drawn:
            try:
                await self._store.outbox.done(drawn)
            except StoreUnavailable as exc:  # the outbox redraws them again later: harmless
                log.warning("could not clear %d outbox entries (%s)", len(drawn), exc.cause)

    async def drain(self, grace: float = 5.0) -> None:
        """Send what is queued (for at most `grace` seconds), then stop the senders. What is left stays
        in the outbox, for any worker to redraw."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(queue.join() for queue in self._queues)), timeout=grace)
        if self._finishing:  # what is not done by then stays in the outbox
            await asyncio.wait(list(self._finishing.values()), timeout=grace)
            await stop_task(*self._finishing.values(), grace=grace)
        await stop_task(*self._senders, grace=grace)
        self._senders = []
        await self._outbox_done()

    async def close(self, grace: float = 5.0) -> None:
        """Take no more redraws (the outbox keeps them for any worker) and drain what is queued."""
        self._closed = True
        await self.drain(grace)

    # drawing ------------------------------------------------------------------------------
    async def names(self, *approvals: ApprovalRecord) -> dict[str, str]:
        """The names of the Teams-only people these approvals name (who asked, may decide, voted, decided), as the
        Teams part keeps them (`store.msteams.names`): how every Slack surface shows them (`user_ref`). {} without a
        store or while Redis is out of reach (their ids shown, inert)."""
        if self._store is None:
            return {}
        try:
            return await self._store.msteams.names(p for approval in approvals for p in approval.people)
        except StoreUnavailable:
            return {}

    async def refresh(self, approval: ApprovalRecord) -> bool:
        """Draw the card and each of its copies (in direct messages) as `approval` has it, now. False
        (logged; kept in the outbox) when Slack refused one."""
        if not approval.pending:
            blocks = build_decided_blocks(approval, pages=self.pages, names=await self.names(approval))
            card, copies = blocks, blocks
        else:
            card = await self._pending_blocks(approval, approval.card_channel)
            copies = build_approval_blocks(approval, frozen=await self._frozen_note(approval),  # in DMs: not shared
                                           pages=self.pages, names=await self.names(approval))
        drawn = [await self._update(approval, card)]
        for channel, ts in approval.copy_cards:
            drawn.append(await self._update(approval, copies, where=(channel, ts)))
        return all(drawn)

    async def _pending_blocks(self, approval: ApprovalRecord, channel: str) -> list[dict[str, Any]]:
        shared = self._shared is not None and await self._shared(channel)
        return build_approval_blocks(approval, shared=shared, frozen=await self._frozen_note(approval),
                                     pages=self.pages, names=await self.names(approval))

    async def _frozen_note(self, approval: ApprovalRecord) -> str:
        """What a pending card says when its scope is frozen (`/agent freeze`): Approve refused, Reject works."""
        if self._store is None:
            return ""
        held = frozen_scope(await self._store.freezes.all(), channel=approval.origin_channel,
                            key=approval.asked_by, agent=approval.agent)
        return frozen_words(held) if held is not None else ""

    async def post(self, approval: ApprovalRecord, *, channel: str | None = None) -> tuple[str, str]:
        """Post the pending card (in `channel`: a copy); returns its (channel id, ts)."""
        response = await self._slack.chat_postMessage(
            channel=channel or approval.card_channel,
            text=approval_fallback_text(approval),
            blocks=await self._pending_blocks(approval, channel or approval.card_channel),
            unfurl_links=False,
            unfurl_media=False,
        )
        return str(response["channel"]), str(response["ts"])

    async def post_copies(self, approval: ApprovalRecord) -> dict[str, str]:
        """Post the copies of the card not posted yet (each in a person's direct message with the bot);
        returns {channel: ts} of those Slack took (a refused one is logged and left out)."""
        posted: dict[str, str] = {}
        for copy in approval.copies:
            channel, _, ts = copy.partition("/")
            if ts:
                continue
            try:
                posted[channel] = (await self.post(approval, channel=channel))[1]
            except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
                error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
                log.warning("a copy of approval %s was not posted in %s (%s)", approval.id, channel, error)
        return posted

    async def attach_full_text(self, approval: ApprovalRecord, *, channel: str, ts: str) -> None:
        """A proposal too long for the card goes in the card's thread: as a text file, or, if the
        upload is refused, as messages of at most `PART` characters each."""
        try:
            await self._slack.files_upload_v2(
                channel=channel,
                thread_ts=ts,
                content=approval.proposal,
                filename=f"proposal-{approval.run_id}.txt",
                title=f"Full proposal for run {approval.run_id}",
            )
            return
        except SlackApiError as exc:
            log.warning("upload of the full proposal refused (%s); posting it in parts", exc.response.get("error"))
        parts = untrusted_parts(approval.proposal)[:MAX_PARTS]
        for number, part in enumerate(parts, start=1):
            await self._slack.chat_postMessage(
                channel=channel,
                thread_ts=ts,
                text=f"Full proposal, part {number} of {len(parts)}",
                blocks=[{"type": "section", "text": part}],
            )

    async def show_on_copy(self, approval: ApprovalRecord, *, channel: str, ts: str) -> bool:
        """Draw `approval` on an extra card of it (not the one Redis notes): its decision, or, while it
        is pending, where to decide. No buttons either way."""
        blocks = build_replaced_blocks(approval, pages=self.pages) if approval.pending else \
            build_decided_blocks(approval, pages=self.pages, names=await self.names(approval))
        return await self._update(replace(approval, card_channel=channel, card_ts=ts), blocks, retry=False)

    async def remove(self, *, channel: str, ts: str) -> None:
        """Delete a card that another card of the same approval replaced (logged if Slack refuses)."""
        try:
            await self._slack.chat_delete(channel=channel, ts=ts)
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("could not remove a replaced card %s (%s)", ts, type(exc).__name__)

    async def _update(
        self,
        approval: ApprovalRecord,
        blocks: list[dict[str, Any]],
        *,
        retry: bool = True,
        where: tuple[str, str] | None = None,
    ) -> bool:
        """`chat.update` of the card (or of the copy `where`); refused, the approval is kept in the
        outbox (`retry`) for any worker to redraw."""
        channel, ts = where or (approval.card_channel, approval.card_ts)
        if not ts:
            return False
        try:
            await self._slack.chat_update(channel=channel, ts=ts, text=approval_fallback_text(approval), blocks=blocks)
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            if error in TOKEN_GONE:  # the app was uninstalled there (its approvals withdrawn): no token will redraw it
                log.warning("card update of approval %s dropped: Slack refused the workspace's token (%s)",
                            approval.id, error, extra={"run_id": approval.run_id, "approval_id": approval.id})
                if self._store is not None:
                    await self._store.outbox.forget([approval.id])
                return False
            log.warning(
                "card update failed for approval %s (%s); kept in the outbox",
                approval.id,
                error,
                extra={"run_id": approval.run_id, "approval_id": approval.id},
            )
            if self._store is not None and retry:
                await self._store.outbox.add(approval.id, due=time.time() + self._retry_after)
            return False
        return True

    async def link(self, card: tuple[str, str]) -> str:
        """A link to a card (the workspace's URL from `auth.test`, asked once, + channel + ts), as the Approvals
        API's `card_url`; '' while the workspace's URL is unknown."""
        channel, ts = card
        if self._workspace_url is None:
            try:
                response = await self.slack.auth_test()
                self._workspace_url = str(response.get("url") or "")
            except (SlackApiError, aiohttp.ClientError, TimeoutError):
                return ""
        return permalink(self._workspace_url, channel, ts)

    async def note_not_taken(self, approval: ApprovalRecord, why: str) -> None:
        """In the card's thread: the program's workflow did not take the decision (its relay said `why`)."""
        if not approval.card_ts:
            return
        text, blocks = build_not_taken_blocks(approval, why)
        try:
            await self.slack.chat_postMessage(channel=approval.card_channel, thread_ts=approval.card_ts, text=text,
                                              blocks=blocks, unfurl_links=False)
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            log.warning("could not say on the card of approval %s that it was not taken (%s)", approval.id, error)

    async def tell_requester(self, approval: ApprovalRecord, directory: Directory) -> None:
        """The decision of a program's approval, in a direct message to the person it asked for (`requester`):
        a program's ask has no run thread where they would see it."""
        channel = await directory.dm_channel(approval.requester)
        if channel is None:
            return
        text, blocks = build_outcome_blocks(approval, tell=False, names=await self.names(approval))
        asked = f"Asked by `{safe(approval.asked_by, 60).replace('`', '')}` for you: " if approval.asked_by else ""
        blocks[1] = context_block(f"{asked}{item_summary(approval)}")
        blocks.insert(1, {"type": "section", "text": untrusted(approval.task, label="Request", limit=TASK_LIMIT)})
        try:
            await self.slack.chat_postMessage(channel=channel, text=text, blocks=blocks, unfurl_links=False)
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            log.warning("could not tell %s of approval %s (%s)", approval.requester, approval.id, error)
