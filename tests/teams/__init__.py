"""Tests of bot/teams (Microsoft Teams, issue 81): its Adaptive Cards, checked against the 1.5 schema and rendered
by `adaptivecards` under Node (test_cards.py); the SDK's app on the worker (test_adapter.py); and deciding end to end
with a real worker, the local Bot Connector (bot/devteams/) and the local Slack (test_decide.py)."""
