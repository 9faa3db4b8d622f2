"""A key only for a workspace that is served (#87): `python -m bot keys create NAME --team T…` where Redis holds a
Grid organisation's org-wide install (an OAuth install, its token sealed) and no worker has recorded which of its
workspaces it is added to: the command asks Slack's `auth.teams.list` with the install's token (the local Slack at
SLACK_API_URL) and refuses a workspace the install is not added to, names the `--enterprise` words for one it is,
and makes the key for one added (named with its organisation) and for a workspace with its own install. A
SECRETS_KEY that cannot open the deployment's check value seals no webhook secret. Run as `python -m bot` does, on a
real Redis."""

from __future__ import annotations

import asyncio
import base64

import pytest

from bot.__main__ import main
from bot.devslack.model import GRID, GRID_A, GRID_B, OTHER_TEAM
from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import TEST_SECRETS_KEY, start_worker
from tests.support.oauth import TOKENS_KEY, install, oauth_env


async def installed(slack: SlackStandIn, redis_url: str) -> None:
    """The organisation installed org-wide and T0OTHER on its own, through OAuth, by a worker then stopped; what
    it recorded of the organisation's workspaces forgotten (as before any worker checked)."""
    slack.several_workspaces(installed=False)
    worker = await start_worker(oauth_env(slack, redis_url))
    slack.configure_oauth(redirect_url=worker.url + "/slack/oauth_redirect")  # the app's Redirect URL, at Slack
    try:
        assert (await install(worker, slack, f"org:{GRID}"))[0] == 200
        assert (await install(worker, slack, f"team:{OTHER_TEAM}"))[0] == 200
    finally:
        await worker.stop()


def create(redis_url: str, slack: SlackStandIn, name: str, *where: str) -> int:
    env = {"REDIS_URL": redis_url, "SLACK_TOKENS_KEY": TOKENS_KEY, "SLACK_API_URL": slack.api_url}
    return main(["keys", "create", name, "--channel", "C3OPS", *where], environ=env)


async def test_no_key_for_a_workspace_the_org_wide_install_is_not_added_to(
    slack: SlackStandIn, redis_url: str, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    await installed(slack, redis_url)
    slack.withhold(GRID_B)  # an org admin added the app to T0GRIDA only
    await store.redis.delete(store.keys.workspaces_added)
    assert await asyncio.to_thread(create, redis_url, slack, "ops", "--team", GRID_B) == 2
    said = capsys.readouterr().err
    assert (f"workspace {GRID_B} is not served: the app has no installation of its own there, and the org-wide"
            f" install of {GRID} is not added to it (Slack's auth.teams.list)") in said, said
    assert f"--team {GRID_B} --enterprise {GRID}" in said, said
    assert [c.ok for c in slack.calls("auth.teams.list")] == [True]  # asked once, with the org install's token
    assert await store.tenants.added_to(GRID) == {GRID_A}  # recorded as a worker records it
    assert await asyncio.to_thread(create, redis_url, slack, "ops", "--team", GRID_B, "--enterprise", GRID) == 2
    assert f"not added to workspace {GRID_B}" in capsys.readouterr().err
    assert await store.api_keys.get("ops") is None

    assert await asyncio.to_thread(create, redis_url, slack, "grid-a", "--team", GRID_A) == 2
    assert f"name it too (--team {GRID_A} --enterprise {GRID})" in capsys.readouterr().err
    assert await asyncio.to_thread(create, redis_url, slack, "grid-a", "--team", GRID_A, "--enterprise", GRID) == 0
    made = await store.api_keys.get("grid-a")
    assert made is not None and (made.team, made.enterprise) == (GRID_A, GRID)
    assert await asyncio.to_thread(create, redis_url, slack, "other", "--team", OTHER_TEAM) == 0  # its own install
    other = await store.api_keys.get("other")
    assert other is not None and other.team == OTHER_TEAM


async def test_without_the_workers_tokens_key_nothing_is_made_unchecked(
    slack: SlackStandIn, redis_url: str, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    await installed(slack, redis_url)
    await store.redis.delete(store.keys.workspaces_added)
    made = await asyncio.to_thread(main, ["keys", "create", "ops", "--channel", "C3OPS", "--team", GRID_B],
                                   environ={"REDIS_URL": redis_url})
    assert made == 2 and "SLACK_TOKENS_KEY" in capsys.readouterr().err
    assert await store.api_keys.get("ops") is None


async def test_a_webhook_secret_is_not_sealed_with_a_key_the_workers_lack(
    redis_url: str, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """`keys create` and `keys rotate` seal a webhook secret with SECRETS_KEY: one that cannot open the deployment's
    check value (#87 item 2) is refused, naming the key id, and nothing is made."""
    assert await store.secrets_check.keep() == ("written", "")  # as the deployment's first worker (`t1`)
    other = "t2:" + base64.b64encode(bytes(range(100, 132))).decode()
    env = {"REDIS_URL": redis_url, "SECRETS_KEY": other}
    made = await asyncio.to_thread(main, ["keys", "create", "ops", "--channel", "C3OPS"], environ=env)
    assert made == 2, capsys.readouterr()
    assert "SECRETS_KEY has no key t1 (the deployment's values are sealed with t1)" in capsys.readouterr().err
    assert await store.api_keys.get("ops") is None
    env["SECRETS_KEY"] = TEST_SECRETS_KEY
    assert await asyncio.to_thread(main, ["keys", "create", "ops", "--channel", "C3OPS"], environ=env) == 0
