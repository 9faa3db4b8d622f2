"""An uninstall stops every worker serving that workspace at once (issue 76): two `python -m bot` processes share a
Redis; the app is uninstalled through one of them and the other, which served the workspace's API key before, refuses
it within a second (the tenancy cache dropped on every worker, told over the pub/sub channel they all listen to)."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.core.workspaces import WorkspaceRef
from bot.devslack.model import OTHER_TEAM
from bot.devslack.server import SlackStandIn
from bot.store import Store, connect
from tests.support.api import Client, tool_ask
from tests.support.cluster import Cluster
from tests.support.oauth import TOKENS_KEY, install

REFUSED_WITHIN = 1.0  # seconds from the installation's end to the other worker's refusal


@pytest.mark.slow
async def test_an_uninstall_refuses_the_workspaces_key_on_every_worker_within_a_second(
    slack: SlackStandIn, redis_url: str, cluster: Cluster
) -> None:
    slack.several_workspaces(installed=False)
    oauth = {"SLACK_CLIENT_ID": slack.client_id, "SLACK_CLIENT_SECRET": slack.client_secret,
             "SLACK_TOKENS_KEY": TOKENS_KEY}
    first = await cluster.start(**oauth)
    second = await cluster.start(**oauth)
    slack.events_url = first.events  # Slack tells one worker of the uninstall
    slack.configure_oauth(redirect_url=first.url + "/slack/oauth_redirect")
    status, _ = await install(first, slack, f"team:{OTHER_TEAM}")
    assert status == 200
    store = Store(connect(redis_url))
    try:
        made = await store.api_keys.create("other", ("C1APPROVALS",), by="test", workspace=WorkspaceRef(OTHER_TEAM))
        assert made is not None
        theirs = Client(second, made.key)
        status, answer = await theirs.ask(tool_ask(requester="U1DAN"))
        assert status == 201, answer  # the second worker serves the workspace (its parts built and kept)

        slack.uninstall(OTHER_TEAM)
        deadline = time.monotonic() + 20
        while await store.installations.ids():
            assert time.monotonic() < deadline, "the first worker did not forget the installation"
            await asyncio.sleep(0.01)
        gone_at = time.monotonic()
        while True:
            status, answer = await theirs.ask(tool_ask(requester="U1DAN"))
            if status == 403:
                break
            assert time.monotonic() - gone_at < REFUSED_WITHIN, (
                f"the second worker still serves the uninstalled workspace ({status}: {answer})")
            await asyncio.sleep(0.02)
        assert "cannot be served" in answer["error"]["message"]
    finally:
        await store.close()
