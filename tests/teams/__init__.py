"""Microsoft Teams (issue 81): bot/teams/ tested for real, with the Teams SDK, the local Bot Connector (bot/devteams/),
workers, redis-server and the Slack stand-in: who a Teams decider is, the cards, where they go, the app."""
