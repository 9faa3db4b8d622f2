"""Microsoft Teams (issue 81): the SDK's app on a real worker, its cards, people and delivery, decided end to end
through the local Bot Connector (bot/devteams/) and the local Slack."""
