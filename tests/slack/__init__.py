"""Tests of bot/slack, the Slack surface: the pure Block Kit builders, the Web API client, the App Homes (their
budget, an admin's channel panels), the cards kept in step with Redis (`CardService`: redraws queued, merged, the
outbox)."""
