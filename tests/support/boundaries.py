"""The ratchets of issue 88's boundary (tests/test_boundaries.py; the layer table of tests/test_layout.py reads them
too): what the approval core still imports of Slack, and Teams' modules still on Slack's parts. Each only shrinks."""

from __future__ import annotations

# the Slack parts still inside the core (issue 88's stage 3 moves them to bot/slack/): module -> surfaces it imports
STILL_TO_MOVE: dict[str, set[str]] = {
    "bot.approvals.attesting": {"slack"},
    "bot.approvals.card_sync": {"slack"},
    "bot.approvals.fatigue": {"slack"},
    "bot.approvals.nudges": {"slack"},
}
# Teams' modules that still use Slack's parts: none now (the card's words are bot/core/card_words.py, the Slack users
# by email bot.people's `UserDirectory`); kept, empty, until STILL_TO_MOVE empties too
TEAMS_STILL_ON_SLACK: dict[str, set[str]] = {}
