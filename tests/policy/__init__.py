"""Tests of bot/policy: policy as code end to end (budgets, reloads, shadow, evaluation errors)."""
