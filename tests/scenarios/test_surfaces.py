"""One surface down is not every surface down (#87): with Slack refusing the bot token (revoked at the local Slack,
which answers `{"ok": false, "error": "token_revoked"}` as Slack does), two `python -m bot` workers stay ready, the
Approvals API takes an ask, `/healthz` says the Slack surface is refused and `/metrics` says it is down; a worker
started with the token revoked and ALERTS_CHANNEL set starts, naming the token, not the channel. Teams decides
meanwhile from the local Teams, and its delivery shows in `/metrics`; a Teams whose Bot Connector refuses the bot
is said down. Real worker processes (and in-process workers for Teams, as tests/msteams/ starts them), a real
redis-server, the local Slack and the local Teams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.devmsteams import TeamsStandIn
from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import SALES
from tests.support.api import Client, tool_ask
from tests.support.cluster import Cluster, WorkerProcess
from tests.support.hitl import until
from tests.support.metrics_table import sample, scrape
from tests.support.oauth import Served
from tests.support.teams import APPROVE, DANA_OID, World, click, start_teams_worker, teams_env

REFUSED = "token refused (token_revoked)"


@pytest.fixture
def world_env() -> dict[str, str]:
    """The `world` worker asks Slack about its token every second (TOKEN_CHECK_INTERVAL)."""
    return {"TOKEN_CHECK_INTERVAL": "1"}


async def get(worker: Served, path: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(worker.url + path) as response:
        return response.status, await response.json()


async def slack_refused(worker: Served) -> dict[str, Any]:
    """`/healthz` once it says Slack refuses the token (asked again each TOKEN_CHECK_INTERVAL); 200 all along."""
    async def said() -> dict[str, Any] | None:
        status, health = await get(worker, "/healthz")
        assert status == 200, health
        return health if health["surfaces"]["slack"] == REFUSED else None

    return dict(await until(said, within=15, what="/healthz saying Slack refuses the token"))


@pytest.mark.slow  # two worker processes
async def test_a_revoked_slack_token_leaves_two_workers_ready_the_api_asking_and_teams_deciding(
    cluster: Cluster, slack: SlackStandIn, teams: TeamsStandIn, store: Store, tmp_path: Path
) -> None:
    dana = teams.add_member(name="Dana Diaz", email="dana@contoso.example", object_id=DANA_OID)
    channel = teams.add_conversation("channel", "Approvals", [dana])
    routes = tmp_path / "teams.yaml"
    routes.write_text(f"people:\n  - {{email: dana@contoso.example, object_id: {DANA_OID}, name: Dana}}\n"
                      f"routes:\n  {SALES}: {{conversation: \"{channel}\"}}\n")
    env = {**teams_env(teams), "TEAMS_FILE": str(routes), "TOKEN_CHECK_INTERVAL": "1"}
    workers = [await cluster.start(**env) for _ in range(2)]
    teams.messaging_url = workers[0].url + "/teams/messages"
    assert await teams.install(channel) == 200
    assert await store.settings.set(SALES, "approvers", f"teams:{DANA_OID}", by="operator") is None
    slack.revoke_token()  # an admin revoked the bot token: every call with it is refused `token_revoked`
    for worker in workers:
        health = await slack_refused(worker)
        assert health["status"] == "degraded" and health["surfaces"]["teams"] == "ok", health
        status, ready = await get(worker, "/readyz")
        assert status == 200 and ready["failing"] == [], ready  # still behind the Service: the API is served
        assert ready["workspace"] == REFUSED, ready
        text = await scrape(worker)
        assert sample(text, 'hitl_surface_up{surface="slack"}') == 0
        assert sample(text, 'hitl_surface_refused{reason="token_revoked",surface="slack"}') == 1
    key = await store.api_keys.create("nightly", (SALES,), by="test")
    assert key is not None
    client = Client(workers[1], key.key)
    status, asked = await client.ask(tool_ask())
    assert status == 201 and asked["status"] == "pending", asked  # accepted: it waits in Teams
    await click(teams, channel, dana, APPROVE, asked["id"])
    decided = await client.wait(asked["id"])
    assert decided["status"] == "approved" and decided["decided_by"] == f"teams:{DANA_OID}", decided
    posted = [sample(await scrape(worker), "hitl_teams_delivery_seconds_count") for worker in workers]
    assert sum(posted) == 1, posted  # its one Teams copy, posted by one of the two


@pytest.mark.slow  # a worker process, its log read
async def test_a_worker_started_with_a_revoked_token_names_the_token_not_the_alerts_channel(
    cluster: Cluster, slack: SlackStandIn
) -> None:
    slack.revoke_token()
    worker: WorkerProcess = await cluster.start(ALERTS_CHANNEL="C0ALERTS")  # it starts (healthz 200), and ready
    assert (await get(worker, "/readyz"))[0] == 200
    _, ready = await get(worker, "/readyz")
    assert ready["alerts"] == "not checked: Slack refuses SLACK_BOT_TOKEN (token_revoked)", ready
    said = worker.log.read_text()
    assert "Slack refuses SLACK_BOT_TOKEN (token_revoked): replace the bot token" in said, said[-2000:]
    assert "ALERTS_CHANNEL C0ALERTS: Slack says" not in said, said[-2000:]  # the channel is not blamed
    assert slack.bot_token not in said


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_teams_decides_while_slack_refuses_the_token_and_its_delivery_shows_in_metrics(
    world: World, slack: SlackStandIn
) -> None:
    slack.revoke_token()
    health = await slack_refused(world.worker)
    assert health["surfaces"]["teams"] == "ok", health
    assert (await get(world.worker, "/readyz"))[0] == 200
    approval_id = await world.ask()
    activity = await world.teams_card(approval_id)
    await world.execute(activity, world.dana, APPROVE, approval_id)
    decided = await world.client.wait(approval_id)
    assert decided["status"] == "approved" and decided["decided_by"] == world.dana_person, decided
    text = await scrape(world.worker)
    assert sample(text, "hitl_teams_delivery_seconds_count") >= 1  # from opened to posted in Teams
    assert sample(text, "hitl_teams_copies_due") >= 0
    assert sample(text, 'hitl_surface_up{surface="teams"}') == 1
    assert sample(text, 'hitl_surface_up{surface="slack"}') == 0


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_a_timeout_that_approves_approves_an_approval_shown_only_in_teams(
    world: World, slack: SlackStandIn
) -> None:
    """Slack refusing the token, the approval is shown in Teams alone: its timeout approves it as one shown in Slack
    (#88: "shown" is any surface's first show, not the Slack card's; one never shown is still refused, tests/store/
    test_surface_due.py)."""
    store = world.worker.services.store
    for key, value in (("timeout", "6"), ("timeout_outcome", "approve"), ("timeout_approves_tools", "true")):
        assert await store.settings.set(SALES, key, value, by="operator") is None
    slack.revoke_token()
    await slack_refused(world.worker)
    approval_id = await world.ask()
    await world.teams_card(approval_id)
    record = await store.approvals.get(approval_id)
    assert record is not None and record.card_ts == ""  # no Slack card: Teams alone shows it
    decided = await world.client.wait(approval_id, wait=30)
    assert decided["status"] == "timed_out" and decided["timeout_outcome"] == "approve", decided


@pytest.mark.slow
async def test_teams_refusing_the_bot_is_counted_and_said_down(
    slack: SlackStandIn, teams: TeamsStandIn, redis_url: str, store: Store
) -> None:
    bob = teams.add_member(name="Bob Brown", email="bob@example.com")
    channel = teams.add_conversation("channel", "Approvals", [bob])
    worker = await start_teams_worker(slack, teams, redis_url, TEAMS_APP_PASSWORD="not-the-app-secret")
    try:
        assert await teams.install(channel) == 200
        assert await store.settings.set(SALES, "teams", channel, by="operator") is None
        key = await store.api_keys.create("nightly", (SALES,), by="test")
        assert key is not None
        status, asked = await Client(worker, key.key).ask(tool_ask())
        assert status == 201, asked

        async def refused() -> dict[str, Any] | None:
            _, health = await get(worker, "/healthz")
            return health if health["surfaces"]["teams"] != "ok" else None

        health = await until(refused, within=15, what="/healthz saying Teams refuses the bot")
        assert health["surfaces"]["teams"] == "refused (sign-in)" and health["status"] == "degraded", health
        assert (await get(worker, "/readyz"))[0] == 200  # Slack serves on
        text = await scrape(worker)
        assert sample(text, 'hitl_teams_refused_total{status="sign-in"}') >= 1
        assert sample(text, 'hitl_surface_up{surface="teams"}') == 0
        assert sample(text, 'hitl_surface_up{surface="slack"}') == 1
    finally:
        await worker.stop()
