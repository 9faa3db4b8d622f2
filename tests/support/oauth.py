"""A worker's settings for Slack's OAuth install against the local Slack (#65): its client id and secret, and a
key that seals the installations' tokens; and the install walked as a browser does, over HTTP."""

from __future__ import annotations

import base64
import html
import os
import re
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

import aiohttp

from bot.devslack.server import SlackStandIn
from bot.slackapp.oauth import BOT_SCOPES
from tests.conftest import bot_env

TOKENS_KEY = base64.b64encode(os.urandom(32)).decode()


def oauth_env(slack: SlackStandIn, redis_url: str, **extra: str) -> dict[str, str]:
    """`bot_env` (no model) with SLACK_CLIENT_ID, SLACK_CLIENT_SECRET (the local Slack's) and SLACK_TOKENS_KEY."""
    return bot_env(slack=slack, redis_url=redis_url, model_config=None, SLACK_CLIENT_ID=slack.client_id,
                   SLACK_CLIENT_SECRET=slack.client_secret, SLACK_TOKENS_KEY=TOKENS_KEY, **extra)


class Served(Protocol):
    """Where a worker serves HTTP (a `Worker`, or a Socket Mode worker's $PORT)."""

    @property
    def url(self) -> str: ...


async def install(worker: Served, slack: SlackStandIn, target: str) -> tuple[int, str]:
    """Walk the install as a browser does, over HTTP: the "Add to Slack" link, Allow on Slack's page for `target`
    (`team:T…` or `org:E…`), back to the worker with the state cookie. Returns the last page's status and text."""
    async with aiohttp.ClientSession() as http:
        async with http.get(worker.url + "/slack/install") as answer:
            assert answer.status == 200
            link = html.unescape(re.findall(r'<a href="([^"]+)"', await answer.text())[0])
            cookie = answer.headers["Set-Cookie"].split(";")[0]
        assert link.startswith(slack.authorize_url + "?")
        query = parse_qs(urlsplit(link).query)
        assert query["scope"] == [",".join(BOT_SCOPES)] and query["client_id"] == [slack.client_id]
        async with http.get(link) as answer:
            assert answer.status == 200 and "Allow" in await answer.text()
        form = {"client_id": slack.client_id, "state": query["state"][0], "target": target, "answer": "allow"}
        async with http.post(slack.base_url + "/oauth/v2/authorize", data=form, allow_redirects=False) as answer:
            assert answer.status == 302
            back = answer.headers["Location"]
        assert back.startswith(worker.url + "/slack/oauth_redirect?")
        async with http.get(back, headers={"Cookie": cookie}) as answer:
            return answer.status, await answer.text()
