"""Sign in with Slack on the bot's pages (bot/signin/): the OpenID Connect flow against the local Slack, the session
cookie, and every refusal, over HTTP against a real worker and redis-server."""
