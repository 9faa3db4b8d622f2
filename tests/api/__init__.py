"""Tests of bot/api: the Approvals API, its keys, limits and webhooks, against real workers."""
