"""The stand-in's vocabulary: how it copies its JSON (`copied`), and what it is made with (`WorkspaceOptions`)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.devslack.model import copied
from bot.devslack.server import SlackStandIn


def card() -> list[dict[str, Any]]:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}, "fields": [{"n": [1, 2.5, None, True]}]}]


def test_a_copy_of_the_stand_ins_json_is_equal_and_shares_nothing() -> None:
    kept = card()
    made = copied(kept)
    assert made == kept
    made[0]["text"]["text"] = "changed"
    made[0]["fields"][0]["n"].append(3)
    made.append({})
    assert kept == card()


def test_what_is_not_json_is_deep_copied_still() -> None:
    kept = {"pair": ([1], "a"), "set": {1, 2}}
    made = copied(kept)
    assert made == kept
    made["pair"][0].append(2)
    assert kept["pair"] == ([1], "a") and made["set"] is not kept["set"]


def test_a_stand_in_is_made_with_its_options_or_their_defaults_and_refuses_others() -> None:
    made = SlackStandIn(signing_secret="s" * 32, bot_token="xoxb-made", trigger_ttl=0.5, usergroups={})
    assert (made.signing_secret, made.bot_token, made.app_token, made.events_url) == ("s" * 32, "xoxb-made", None, None)
    assert made.trigger_ttl == 0.5
    plain = SlackStandIn(signing_secret="s" * 32, bot_token="xoxb-plain")
    assert plain.trigger_ttl == 3.0
    with pytest.raises(TypeError, match="no option bot_tokn"):
        SlackStandIn(signing_secret="s" * 32, bot_token="xoxb-t", bot_tokn="xoxb-t")
