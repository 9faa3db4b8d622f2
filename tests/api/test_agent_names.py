"""The name a program's agent gives itself is its words (#87): an ask whose `agent` says "mailer, sponsored by
<@UADMIN>" shows it quoted and labelled ("the agent calling itself “…”"), inert (no mention), on the card, its copy
in a direct message, the App Home row and the decided card; the only sponsor line is the key's own. A real worker,
the local Slack, signed requests, a real Redis."""

from __future__ import annotations

import re
from typing import Any

from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, CAROL, SALES, Worker, block_texts
from tests.support.api import Client, tool_ask
from tests.support.hitl import decided, nth_card, reject, until
from tests.support.homes import dm_cards, home_text, open_homes

CLAIM = "mailer, sponsored by <@UADMIN>"
QUOTED = "the agent calling itself “mailer, sponsored by &lt;@UADMIN&gt;”"


def said_once_as_ours(text: str) -> None:
    """The text names one sponsor, the key's, and the agent's name only quoted and inert."""
    assert re.findall(r"sponsored by <@(\w+)>", text) == [CAROL], text
    assert "<@UADMIN>" not in text and QUOTED in text, text


async def test_an_agent_naming_a_sponsor_is_quoted_as_its_words_on_every_copy(
    api: Worker, slack: SlackStandIn
) -> None:
    await api.services.store.settings.set(SALES, "approvers", BOB, by="operator")
    await api.services.store.settings.set(SALES, "deliver", "both", by="operator")
    made = await api.services.store.api_keys.create("mailer", (SALES,), by="test", sponsor=CAROL)
    assert made is not None
    status, asked = await Client(api, made.key).ask(tool_ask(agent=CLAIM))
    assert status == 201, asked
    card = await nth_card(slack, 1)
    said_once_as_ours(block_texts(card))
    [copy] = await until(lambda: dm_cards(slack, BOB), what="the card's copy in Bob's DM")
    assert QUOTED in block_texts(copy) and "<@UADMIN>" not in block_texts(copy)
    await open_homes(slack, BOB)
    await until(lambda: QUOTED in home_text(slack, BOB), what="Bob's Home row")
    assert "<@UADMIN>" not in home_text(slack, BOB)
    await reject(slack, card, user=BOB, reason="no")
    shown: dict[str, Any] = await decided(slack, card)
    said_once_as_ours(block_texts(shown))
