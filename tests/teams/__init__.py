"""Tests of bot/teams (Microsoft Teams, issue 81), for real: the Teams SDK, the local Bot Connector (bot/devteams/),
workers, redis-server and the local Slack. Its Adaptive Cards checked against the 1.5 schema and rendered by
`adaptivecards` under Node (test_cards.py); who a Teams decider is (test_people.py); where the cards go and every copy
kept current (test_delivery.py); the SDK's app on the worker (test_adapter.py, test_app.py); deciding end to end
(test_decide.py)."""
