"""Tests of bot/cli (the operator's commands) and of how `python -m bot` parses every subcommand."""
