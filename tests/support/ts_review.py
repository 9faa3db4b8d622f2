"""The reviewer of the TypeScript package's tests (tests/agents/typescript/ and tests/release/): bob decides each
new card by what its title asks (`review`)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

from bot.devslack.server import SlackStandIn
from bot.slack.blocks.approval_card import FIXED_ARGUMENTS
from tests.conftest import APPROVALS, BOB, block_texts, card_of
from tests.support.hitl import click, open_modal, reject

REASON = "not on a Friday"
FEEDBACK = "Send it to Carol instead"
EDITED = {"to": "carol@example.com", "body": "Prices go up 5% on May 1."}  # what "ts: edit" cards are edited to


async def revise(slack: SlackStandIn, card: dict[str, Any], fixed: bool) -> None:
    """Revise as bob with FEEDBACK; on a "[fixed]" card, whose arguments cannot be edited, the modal asks only that."""
    view = await open_modal(slack, card, user=BOB)
    inputs = [b.get("block_id") for b in view["view"]["blocks"] if b["type"] == "input"]
    assert not fixed or inputs == ["feedback"], inputs
    await slack.submit_view(user=BOB, view_id=view["id"], values={"feedback": {"feedback_input": FEEDBACK}})


async def edit(slack: SlackStandIn, card: dict[str, Any]) -> None:
    """Revise as bob, the arguments edited to EDITED."""
    view = await open_modal(slack, card, user=BOB)
    await slack.submit_view(user=BOB, view_id=view["id"], values={"arguments": {"arguments_input": json.dumps(EDITED)}})


async def review(slack: SlackStandIn, done: asyncio.Event, shown: list[str], signals: Path) -> list[str]:
    """Decide each new pending card by its title, as bob, until `done`; what was decided, in order. Each new card's
    text goes to `shown`.

    "ts: approve after X": approved once the file X is in `signals`; "ts: approve twice": approved with two clicks
    (a double click); "ts: revise then approve X" / "ts: edit then
    approve X": the first such card of X revised with FEEDBACK / its arguments edited to EDITED, the next approved;
    "ts: approve": approved (and a "ts: edit" card asking again with EDITED); "ts: reject": rejected with REASON;
    "ts: revise": revised with FEEDBACK; "ts: edit": the arguments edited to EDITED; the others left. A card whose
    title says "[fixed]" must say that its arguments cannot be edited."""
    decided: list[str] = []
    seen: set[str] = set()
    revised: set[str] = set()
    while not done.is_set():
        for card in card_of(slack, pending=True):
            if card["ts"] in seen:
                continue
            text = block_texts(card)
            fixed = "[fixed]" in text
            assert not fixed or FIXED_ARGUMENTS in text, text
            after = re.search(r"ts: approve after ([\w-]+)", text)
            if after and not (signals / after[1]).exists():
                continue  # looked at again until the signal
            seen.add(card["ts"])
            shown.append(text)
            again = re.search(r"ts: (revise|edit) then approve ([\w-]+)", text)
            if again and again[0] not in revised:
                revised.add(again[0])
                if again[1] == "edit":
                    await edit(slack, card)
                    decided.append("edited")
                else:
                    await revise(slack, card, fixed)
                    decided.append("revised")
            elif "ts: approve" in text or again or ("ts: edit" in text and EDITED["to"] in text):
                await click(slack, card, "approval_approve", user=BOB)
                if "ts: approve twice" in text:  # the same button again, as the card was shown (a double click)
                    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve",
                                      as_seen=card)
                decided.append("approved")
            elif "ts: reject" in text:
                await reject(slack, card, user=BOB, reason=REASON)
                decided.append("rejected")
            elif "ts: revise" in text:
                await revise(slack, card, fixed)
                decided.append("revised")
            elif "ts: edit" in text:
                await edit(slack, card)
                decided.append("edited")
        try:
            await asyncio.wait_for(done.wait(), 0.02)
        except TimeoutError:
            pass
    return decided
