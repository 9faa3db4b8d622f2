"""Microsoft Teams (issue 81): bot/msteams/ tested for real, with the Teams SDK, the local Bot Connector
(bot/devmsteams/),
workers, redis-server and the Slack stand-in: who a Teams decider is, the cards (checked against the Adaptive Cards
1.5 schema and rendered by `adaptivecards` under Node), where they go, the app."""
