"""Tests of bot/policy: bundles from POLICY_DIR deciding asks end to end (budgets, windows, every way in) and what
Cedar is given."""
