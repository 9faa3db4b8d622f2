"""Tests of bot/policy (policies as code: bundles, windows, verdicts, replay) and of `python -m bot policy`."""
