"""Tests of bot/slack: the pure Block Kit builders and the Web API client."""
