"""The stand-in's vocabulary: how it copies its JSON (`copied`)."""

from __future__ import annotations

from typing import Any

from bot.devslack.model import copied


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
