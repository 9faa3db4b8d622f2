"""Tests of bot/teams (Microsoft Teams, issue 81): where an approval's cards go in Teams and every copy kept current
(test_delivery.py)."""
