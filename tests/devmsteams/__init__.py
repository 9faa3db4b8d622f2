"""Tests of bot/devmsteams (the local Teams stand-in: the Bot Connector, its sign-in, and people as Teams sends them),
with the Teams SDK as the bot's side."""
