"""A worker's settings for Slack's OAuth install against the local Slack (#65): its client id and secret, and a
key that seals the installations' tokens."""

from __future__ import annotations

import base64
import os

from bot.devslack.server import SlackStandIn
from tests.conftest import bot_env

TOKENS_KEY = base64.b64encode(os.urandom(32)).decode()


def oauth_env(slack: SlackStandIn, redis_url: str, **extra: str) -> dict[str, str]:
    """`bot_env` (no model) with SLACK_CLIENT_ID, SLACK_CLIENT_SECRET (the local Slack's) and SLACK_TOKENS_KEY."""
    return bot_env(slack=slack, redis_url=redis_url, model_config=None, SLACK_CLIENT_ID=slack.client_id,
                   SLACK_CLIENT_SECRET=slack.client_secret, SLACK_TOKENS_KEY=TOKENS_KEY, **extra)
