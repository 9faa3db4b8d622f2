"""A route's Slack step (issue 90, bot/approvals/reach.py): a copy of the approval's card, with its buttons, in a
direct message to each person reached (user groups expanded as the directory says them), as `deliver dm` sends
its copies; noted on the approval (`note_copies`), so each copy is redrawn with the card. The root registers it as
the `slack` `Reacher`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.core.people import SLACK_ID
from bot.core.records import ApprovalRecord
from bot.slack.card_sync import CardService
from bot.slack.directory import Directory
from bot.store import Store

log = logging.getLogger(__name__)


class SlackReach:
    """The `slack` step of a route: the card in each person's direct message (see the module)."""

    def __init__(self, *, store: Store, directory: Directory, cards: CardService) -> None:
        self._store = store
        self._directory = directory
        self._cards = cards

    async def reach(self, approval: ApprovalRecord, people: Sequence[str], /) -> list[str]:
        try:
            found = await self._directory.people([p for p in people if SLACK_ID.fullmatch(p)])
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("approval %s: people not resolved for its route (%s)", approval.id, type(exc).__name__)
            raise
        had = {copy.partition("/")[0] for copy in approval.copies} | {approval.card_channel}
        dms: dict[str, str] = {}
        for person in sorted(found):
            channel = await self._directory.dm_channel(person)
            if channel is not None:
                dms[person] = channel
        fresh = [channel for channel in dms.values() if channel not in had]  # (a DM with the card already: kept)
        posted = await self._cards.post_copies(replace(approval, copies=tuple(f"{c}/" for c in fresh))) \
            if fresh else {}
        if posted:
            await self._store.approvals.note_copies(approval.id, posted)
        return [person for person, channel in dms.items() if channel in posted or channel in had]
