"""Slack's own due work (bot/store/due.py kind `slack`, the outbox `{p}:outbox`), apart from the runs' supervisor and
from every other surface's: card updates Slack refused (or whose worker died) redrawn (`drain`), the card owed of a
pending approval that waits on another surface since Slack failed as it opened (`post_owed`: bot/slack/delivery.py),
and the card of an approval whose worker died before posting it (`post_unseen`: the supervisor, bot/runs/supervisor.py,
finds it and asks through its port `Cards`)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.core.records import ApprovalRecord
from bot.slack.card_sync import CardService
from bot.slack.delivery import OWED_RETRY, failing
from bot.store import Fence, Store

log = logging.getLogger(__name__)


class Posting(Protocol):
    """What of the card's delivery the due work uses (bot/slack/delivery.py `Delivery`, the core's `CardDelivery`)."""

    async def post_late(self, approval: ApprovalRecord) -> tuple[str, str]: ...

    async def post_copies(self, approval: ApprovalRecord) -> None: ...

    async def show_posted(
        self, approval: ApprovalRecord, *, channel: str, ts: str, fence: Fence | None = None
    ) -> tuple[str, str]: ...


@dataclass(kw_only=True, eq=False, repr=False)
class SlackDue:
    """Slack's cards due: redrawn, owed or unseen, each posted by one worker (a `post:<id>` claim)."""

    store: Store
    cards: CardService  # the Slack cards: an unseen approval's posted, the outbox's redrawn
    delivery: Posting  # Slack's (bot/slack/delivery.py): a posted card noted, its copies, a card owed
    worker_id: str

    async def post_unseen(self, approval: ApprovalRecord) -> bool:
        """Post the card of a pending approval whose worker died after storing it and before posting
        its card (nobody could see it, so nobody could decide it). One worker does it."""
        if not await self.store.workers.claim(f"post:{approval.id}", self.worker_id, seconds=30):
            return False
        channel, ts = await self.cards.post(approval)
        await self.delivery.show_posted(approval, channel=channel, ts=ts)
        await self.delivery.post_copies(approval)
        log.info(
            "posted the card of approval %s, which its worker never posted",
            approval.id,
            extra={"run_id": approval.run_id, "approval_id": approval.id},
        )
        return True

    async def drain(self) -> int:
        """Queue redraws of cards whose update is overdue (Slack refused it, or its worker died); a card
        never stays stale. Cards already queued here are first kept from the other workers."""
        now = time.time()
        await self.store.outbox.defer(self.cards.queued, due=now + self.store.shared.card_grace)
        claimed = await self.store.outbox.claim(now, lease=self.store.shared.card_grace)
        found = await self.store.approvals.get_many(claimed)
        drawable = [a for a in found if a.card_ts]
        owed = [a for a in found if not a.card_ts and a.pending]  # Slack failed as it opened (`post_late`)
        # nothing to draw: the approval expired, or its card was never posted and it is decided (a click on a card
        # that was posted but never stored attaches it and puts it back in the outbox)
        await self.store.outbox.forget(set(claimed) - {a.id for a in drawable + owed})
        for approval in drawable:
            self.cards.schedule(approval)
        for approval in owed:
            await self.post_owed(approval)
        return len(drawable) + len(owed)

    async def post_owed(self, approval: ApprovalRecord) -> bool:
        """The card owed of a pending approval that waits on another surface (Slack failed as it opened:
        bot/slack/delivery.py), posted by one worker (a `post:<id>` claim); Slack failing still, due again later;
        Slack refusing it, it goes on waiting where it is shown (out of the outbox). Whether it was posted."""
        if not await self.store.workers.claim(f"post:{approval.id}", self.worker_id, seconds=int(OWED_RETRY) - 5):
            return False  # another worker posts it (its outbox lease ends: due again, then found carded)
        try:
            await self.delivery.post_late(approval)
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            if failing(exc):
                await self.store.outbox.add(approval.id, due=time.time() + OWED_RETRY)
            else:
                await self.store.outbox.forget([approval.id])
                log.warning("approval %s: Slack refused its card (%s); it waits on another surface", approval.id,
                            exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__)
            return False
        await self.store.outbox.done([approval])
        log.info("posted the card of approval %s, owed since Slack failed as it opened", approval.id,
                 extra={"run_id": approval.run_id, "approval_id": approval.id})
        return True
