"""Tests of bot/core: settings, records, durations, logs, metrics."""
