"""Tests of bot/approvals: who may decide, Homes, nudges, rules, input modes."""
