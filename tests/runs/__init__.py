"""Tests of bot/runs: team presets, the model clients and their cache, tool calls in a run."""
