"""What issue 65 left of serving every workspace, found from outside (issue 78): a click sent with another
workspace's team is refused and audited; a workspace of the organisation the app is not added to is told so, and no
API key is made for it or asks there; a tenant's expiring token is rotated before an API ask uses it; after an
uninstall the workspace's keys refuse and its card updates stop; /healthz notices a token Slack refuses after start.

Real parts: redis-server, the worker's HTTP server and Bolt app over signed HTTP; Slack is the local stand-in."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest

from bot.__main__ import main
from bot.core.workspaces import WorkspaceRef
from bot.devslack.model import GRID, GRID_A, GRID_B, OTHER_TEAM
from bot.devslack.server import SlackStandIn
from tests.conftest import ALICE, APPROVALS, SALES, Worker, bot_env, start_worker
from tests.support.api import tool_ask
from tests.support.hitl import audit_events, until
from tests.support.oauth import install, oauth_env
from tests.support.tenants import (
    APPROVE,
    DAN,
    ERIN,
    GRID_A_CHANNEL,
    HANK,
    OTHER_CHANNEL,
    ask,
    card_in,
    decided_in,
    key_of,
    refusals_of,
    several_worker,
    status_in,
    store_of,
)


async def post_signed(slack: SlackStandIn, worker: Worker, payload: dict[str, object]) -> int:
    body = urlencode({"payload": json.dumps(payload)}).encode()
    async with aiohttp.ClientSession() as http, http.post(worker.url + "/slack/events", data=body,
                                                          headers=slack.sign(body)) as answer:
        return answer.status


async def test_a_click_sent_with_another_workspaces_team_is_refused_and_audited(
    slack: SlackStandIn, several: Worker
) -> None:
    home_id = await ask(await key_of(several, "home", SALES, None), ALICE)
    card = await card_in(slack, APPROVALS, home_id)
    button = next(e for b in card["blocks"] if b.get("type") == "actions" for e in b["elements"]
                  if e.get("action_id") == APPROVE)
    block = next(b["block_id"] for b in card["blocks"] if button in b.get("elements", []))
    # the home workspace's card, clicked by Dan as T0OTHER sends it (his workspace's team)
    payload: dict[str, object] = {
        "type": "block_actions", "user": {"id": DAN, "username": "dan", "team_id": OTHER_TEAM},
        "team": {"id": OTHER_TEAM, "domain": "other-workspace"}, "api_app_id": "A0APP",
        "container": {"type": "message", "message_ts": card["ts"], "channel_id": APPROVALS},
        "channel": {"id": APPROVALS}, "trigger_id": "1.2.3", "message": card,
        "actions": [{"action_id": APPROVE, "block_id": block, "value": button["value"], "type": "button"}]}
    assert await post_signed(slack, several, payload) == 200
    entries = await until(lambda: refusals_of(several, DAN), what="the refusal audited")
    assert entries[0]["team"] == OTHER_TEAM and entries[0]["approval"] == home_id, entries
    assert "another workspace" in entries[0]["reason"], entries
    assert await status_in(several.services.store, home_id) == "pending"


async def test_a_person_of_a_workspace_the_app_is_not_added_to_is_told_so(
    slack: SlackStandIn, several: Worker
) -> None:
    slack.withhold(GRID_B)  # the org-wide install is not added to T0GRIDB: Slack refuses the org token there
    said = await slack.send_command(user=HANK, channel=GRID_A_CHANNEL, text="status")  # Hank is of T0GRIDB
    assert said.status == 200 and "not added to your workspace" in said.body, said.body
    assert "try again" not in said.body.lower()
    entries = await until(lambda: refusals_of(several, HANK), what="the refusal audited")
    assert "not added to their workspace" in entries[0]["reason"], entries


async def test_a_key_of_a_workspace_the_app_is_not_added_to_is_refused_and_audited(
    slack: SlackStandIn, several: Worker
) -> None:
    slack.withhold(GRID_B)
    key = await key_of(several, "grid-b", "C3OPS", WorkspaceRef(GRID_B, GRID))
    status, answer = await key.ask(tool_ask(requester=HANK))
    assert (status, answer["error"]["code"]) == (403, "forbidden"), answer
    assert "not added to workspace T0GRIDB" in answer["error"]["message"], answer
    refused = [e for e in await audit_events(several, "refused") if e.get("by") == "key grid-b"]
    assert refused and refused[0]["team"] == GRID_B and "not added" in refused[0]["reason"], refused
    assert not [c for c in slack.calls("chat.postMessage") if c.args.get("channel") == "C3OPS"]  # nothing asked
    assert await store_of(several, GRID).approvals.waiting_by_channel() == {}


@pytest.mark.parametrize("installed_by", ["oauth", "file"])
async def test_after_an_uninstall_its_keys_refuse_and_its_cards_are_not_retried(
    slack: SlackStandIn, redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, installed_by: str
) -> None:
    if installed_by == "oauth":
        slack.several_workspaces(installed=False)
        worker = await start_worker(oauth_env(slack, redis_url))
        slack.events_url = worker.url + "/slack/events"
        slack.configure_oauth(redirect_url=worker.url + "/slack/oauth_redirect")
        assert (await install(worker, slack, f"team:{OTHER_TEAM}"))[0] == 200
    else:
        worker = await several_worker(slack, redis_url, tmp_path)
    try:
        key = await key_of(worker, "other", OTHER_CHANNEL, WorkspaceRef(OTHER_TEAM))
        approval_id = await ask(key, ERIN)
        await card_in(slack, OTHER_CHANNEL, approval_id)
        other = store_of(worker, OTHER_TEAM)
        slack.uninstall(OTHER_TEAM)  # Slack sends tokens_revoked, then app_uninstalled
        assert await until(lambda: decided_in(other, approval_id), what="its approval withdrawn") == "cancelled"
        dropped = await until(lambda: [r for r in caplog.records if "dropped" in r.getMessage()
                                       and approval_id in r.getMessage()], what="the card update dropped")
        assert dropped[0].levelname == "WARNING" and "token_revoked" in dropped[0].getMessage()
        assert await worker.services.redis.zscore(other.keys.outbox, approval_id) is None  # never tried again
        status, answer = await key.ask(tool_ask(requester=ERIN))
        assert (status, answer["error"]["code"]) == (403, "forbidden"), answer
        assert "uninstalled" in answer["error"]["message"], answer
        refused = [e for e in await audit_events(worker, "refused") if e.get("by") == "key other"]
        assert refused and refused[0]["team"] == OTHER_TEAM and "uninstalled" in refused[0]["reason"], refused
    finally:
        await worker.stop()


async def healthz(worker: Worker) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as http, http.get(worker.url + "/healthz") as answer:
        return answer.status, await answer.json()


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_healthz_notices_a_token_slack_refuses_after_start(slack: SlackStandIn, redis_url: str) -> None:
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None, TOKEN_CHECK_INTERVAL="1"))
    try:
        assert (await healthz(worker))[0] == 200
        asked = len(slack.calls("auth.test"))
        for _ in range(20):  # probes read what Slack said last: they never ask it themselves
            assert (await healthz(worker))[0] == 200
        assert len(slack.calls("auth.test")) - asked <= 1
        slack.bot_token = "xoxb-another-token"  # an admin revoked the bot's token: Slack knows it no more

        async def down() -> dict[str, object] | None:
            status, said = await healthz(worker)
            assert status == 200, said  # Slack down, the worker not (#87)
            return said if said["slack"] != "ok" else None

        said = await until(down, what="/healthz saying Slack refuses the token", within=10)
        assert (said["status"], said["slack"]) == ("degraded", "token refused (invalid_auth)"), said
        assert said["surfaces"] == {"slack": "token refused (invalid_auth)", "teams": "not configured"}, said
    finally:
        await worker.stop()


def refreshes(slack: SlackStandIn) -> list[object]:
    return [c for c in slack.calls("oauth.v2.access") if c.ok and c.args.get("grant_type") == "refresh_token"]


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_an_expiring_token_is_rotated_before_an_api_ask_uses_it(slack: SlackStandIn, redis_url: str) -> None:
    slack.several_workspaces(installed=False)
    worker = await start_worker(oauth_env(slack, redis_url))
    slack.events_url = worker.url + "/slack/events"
    slack.configure_oauth(redirect_url=worker.url + "/slack/oauth_redirect", token_rotation=True, token_lifetime=2)
    try:
        assert (await install(worker, slack, f"team:{OTHER_TEAM}"))[0] == 200
        key = await key_of(worker, "other", OTHER_CHANNEL, WorkspaceRef(OTHER_TEAM))
        await card_in(slack, OTHER_CHANNEL, await ask(key, ERIN))  # its parts built, with the token of then
        used = slack.installed(OTHER_TEAM)
        assert used is not None

        async def expired() -> bool:  # Slack's own word: the token the parts were built with has ended
            async with aiohttp.ClientSession() as http, http.post(slack.api_url + "auth.test", headers={
                    "Authorization": f"Bearer {used}"}) as answer:
                return (await answer.json()).get("error") == "token_expired"

        await until(expired, what="the first token expired", within=10)
        rotations = len(refreshes(slack))
        second = await ask(key, DAN)  # rotated first, as Bolt's authorize does before a request's listeners
        await card_in(slack, OTHER_CHANNEL, second)
        assert len(refreshes(slack)) > rotations
    finally:
        await worker.stop()


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_no_key_is_made_for_a_workspace_the_app_is_not_added_to(
    slack: SlackStandIn, redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    worker = await several_worker(slack, redis_url, tmp_path, TOKEN_CHECK_INTERVAL="1")
    slack.withhold(GRID_B)  # the org-wide install is not added to T0GRIDB
    try:
        async def known() -> frozenset[str] | None:
            return await worker.services.store.tenants.added_to(GRID)

        assert await until(known, what="the workers' word on the organisation's workspaces") == {GRID_A}
        create = ["keys", "create", "ops", "--channel", "C3OPS", "--team", GRID_B, "--enterprise", GRID]
        assert await asyncio.to_thread(main, create, environ={"REDIS_URL": redis_url}) == 2
        said = capsys.readouterr().err
        assert f"not added to workspace {GRID_B}" in said and "org admin adds it" in said, said
        assert await worker.services.store.api_keys.get("ops") is None
        made = ["keys", "create", "grid-a", "--channel", GRID_A_CHANNEL, "--team", GRID_A, "--enterprise", GRID]
        assert await asyncio.to_thread(main, made, environ={"REDIS_URL": redis_url}) == 0  # one it is added to
    finally:
        await worker.stop()
