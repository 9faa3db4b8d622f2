"""Tests of bot/sessions: a run's header, thread and Slack agent session, told of its approvals by their events."""
