"""Tests of bot/approvals: who may decide, cards kept in step, Homes, nudges, rules, input modes."""
