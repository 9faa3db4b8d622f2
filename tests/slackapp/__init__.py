"""Tests of bot/slackapp: the Bolt app, its gate, listeners and the command parser, over signed HTTP."""
