"""Tests of bot/devslack (the local Slack stand-in) and of dev mode (bot/dev/)."""
