"""Microsoft Teams (issue 81): bot/teams/ tested for real, with the Teams SDK, the local Bot Connector (bot/devteams/),
workers, redis-server and the Slack stand-in: who a Teams decider is, the cards (checked against the Adaptive Cards
1.5 schema and rendered by `adaptivecards` under Node), where they go, the app."""
