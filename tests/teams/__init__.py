"""Tests of bot/teams (Microsoft Teams, issue 81): its Adaptive Cards, checked against the 1.5 schema and rendered
by `adaptivecards` under Node (test_cards.py)."""
