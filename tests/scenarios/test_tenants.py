"""One worker serves every workspace it is installed in (issue 65), as a user runs it: the local Slack serves the
home workspace (T0DEV), a second plain one (T0OTHER) and a Grid organisation (E0GRID, installed org-wide) with two
workspaces (T0GRIDA, T0GRIDB), each with its people, channels and tokens (SLACK_WORKSPACES_FILE). A card in each
workspace, posted with its own token, its approval under its tenant's keys and decided there by a click; a click from
the wrong workspace refused and audited; an org member of T0GRIDB approves in T0GRIDA's channel when named, and
only then; a key of one workspace never touches another's approvals; one workspace rate-limited (429s) while the
other's cards go on; the tenants a worker served are served again (their due work) by the next worker to start. Each
workspace's API answers link its card, its receipts are spent and its reveal links served in its own data; /metrics
and /healthz count every workspace; an org user group of the organisation's other workspace is found; Redis down
when a workspace is first served says try again; a Grid workspace installed alone (OAuth, or the file) is its own
tenant.

Real parts: redis-server, the worker's HTTP server and Bolt app over signed HTTP; Slack is the stand-in."""

from __future__ import annotations

import asyncio
import json
import time
from functools import partial
from pathlib import Path

import aiohttp
import pytest

from bot.core.key_files import ensure_keys_file
from bot.core.workspaces import WorkspaceRef
from bot.devslack.model import GRID, GRID_A, GRID_B, OTHER_TEAM, TEAM_ID, DeliveryResult, several_teams
from bot.devslack.server import SlackStandIn
from bot.report.cli import build_report, read_history
from bot.server import TENANCY
from bot.store import Store
from bot.tenancy import Tenancy
from tests.conftest import ALICE, SALES, Worker, bot_env, start_redis, start_worker
from tests.support.api import tool_ask
from tests.support.hitl import audit_events, until
from tests.support.oauth import install, oauth_env
from tests.support.passkeys import registration, user_id_of
from tests.support.signin import pages_client
from tests.support.signing import spend
from tests.support.stepup import ORIGIN
from tests.support.tenants import (
    APPROVE,
    DAN,
    ERIN,
    GINA,
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


async def test_a_card_in_each_workspace_kept_under_its_tenant_and_decided_there(
    slack: SlackStandIn, several: Worker
) -> None:
    home_id = await ask(await key_of(several, "home", SALES, None), ALICE)
    other_id = await ask(await key_of(several, "other", OTHER_CHANNEL, WorkspaceRef(OTHER_TEAM)), ERIN)
    grid_id = await ask(await key_of(several, "grid", GRID_A_CHANNEL, WorkspaceRef(GRID_A, GRID)), HANK)
    home_store, other_store, grid_store = several.services.store, store_of(several, OTHER_TEAM), store_of(
        several, GRID)
    # each approval is under its own tenant's keys only: the home one's under today's names
    assert [bool(await s.approvals.get(home_id)) for s in (home_store, other_store, grid_store)] == [1, 0, 0]
    assert [bool(await s.approvals.get(other_id)) for s in (home_store, other_store, grid_store)] == [0, 1, 0]
    assert [bool(await s.approvals.get(grid_id)) for s in (home_store, other_store, grid_store)] == [0, 0, 1]
    assert await several.services.redis.exists(f"hitl:ws:{OTHER_TEAM}:deadlines", f"hitl:ws:{GRID}:deadlines") == 2
    # each card posted in its workspace with its own token
    other_card = await card_in(slack, OTHER_CHANNEL, other_id)
    grid_card = await card_in(slack, GRID_A_CHANNEL, grid_id)
    posted = {c.args.get("channel"): c.team for c in slack.calls("chat.postMessage") if c.ok}
    assert (posted[OTHER_CHANNEL], posted[GRID_A_CHANNEL]) == (OTHER_TEAM, GRID_A)
    # a click in each workspace decides there
    assert (await slack.click(user=DAN, channel=OTHER_CHANNEL, ts=other_card["ts"], action_id=APPROVE)).status == 200
    assert (await slack.click(user=GINA, channel=GRID_A_CHANNEL, ts=grid_card["ts"], action_id=APPROVE)).status == 200
    await until(lambda: decided_in(other_store, other_id), what="the other workspace's approval decided")
    await until(lambda: decided_in(grid_store, grid_id), what="the Grid's approval decided")
    assert (await status_in(other_store, other_id), await status_in(grid_store, grid_id)) == ("approved", "approved")
    decided = await other_store.approvals.get(other_id)
    assert decided is not None and decided.decided_by == DAN
    assert await status_in(home_store, home_id) == "pending"
    # the worker keeps which tenants it serves: the next worker starts their loops at once
    tenancy: Tenancy = several.runner.app[TENANCY]
    assert sorted(p.store.keys.prefix for p in tenancy.built()) == [f"hitl:ws:{GRID}", f"hitl:ws:{OTHER_TEAM}"]
    assert sorted(r.tenant for r in await home_store.tenants.known()) == [GRID, OTHER_TEAM]


async def test_a_click_from_the_wrong_workspace_is_refused_and_audited(slack: SlackStandIn, several: Worker) -> None:
    home_id = await ask(await key_of(several, "home", SALES, None), ALICE)
    card = await card_in(slack, "C0APPROVALS", home_id)
    # Dan of T0OTHER clicks the home workspace's card (in a channel shared with his workspace)
    assert (await slack.click(user=DAN, channel="C0APPROVALS", ts=card["ts"], action_id=APPROVE)).status == 200
    entries = await until(lambda: refusals_of(several, DAN), what="the refusal's audit entry")
    assert entries[0]["reason"].startswith("outsider: "), entries  # (the home token does not even know him)
    assert await status_in(several.services.store, home_id) == "pending"
    nothing = store_of(several, OTHER_TEAM)
    assert await nothing.approvals.get(home_id) is None


async def test_an_org_member_of_another_workspace_approves_when_named_and_only_then(
    slack: SlackStandIn, several: Worker
) -> None:
    grid = store_of(several, GRID)
    key = await key_of(several, "grid", GRID_A_CHANNEL, WorkspaceRef(GRID_A, GRID))
    unnamed = await ask(key, GINA)  # (Gina asks: Hank is no requester here)
    card = await card_in(slack, GRID_A_CHANNEL, unnamed)
    # Hank is of T0GRIDB: the approval is T0GRIDA's and its approvers do not name him
    assert (await slack.click(user=HANK, channel=GRID_A_CHANNEL, ts=card["ts"], action_id=APPROVE)).status == 200
    refused = await until(lambda: refusals_of(several, HANK), what="Hank's refusal audited")
    assert refused[0]["reason"] == "other_workspace" and refused[0]["approval_team"] == GRID_A
    said = await slack.wait_for(lambda: [e["text"] for e in slack.ephemerals(HANK) if "another Slack workspace" in
                                         e["text"]])
    assert "only its own people decide it" in said[0]  # told why
    assert await status_in(grid, unnamed) == "pending"
    await grid.settings.set(GRID_A_CHANNEL, "approvers", f"{GINA},{HANK}", by="operator")
    named = await ask(key, GINA)
    card = await card_in(slack, GRID_A_CHANNEL, named)
    assert (await slack.click(user=HANK, channel=GRID_A_CHANNEL, ts=card["ts"], action_id=APPROVE)).status == 200
    await until(lambda: decided_in(grid, named), what="the named org member's approval")
    decided = await grid.approvals.get(named)
    assert decided is not None and (decided.status, decided.decided_by) == ("approved", HANK)


async def test_a_key_of_one_workspace_never_touches_anothers_approvals(slack: SlackStandIn, several: Worker) -> None:
    home_id = await ask(await key_of(several, "home", SALES, None), ALICE)
    other = await key_of(several, "other", OTHER_CHANNEL, WorkspaceRef(OTHER_TEAM))
    grid_a = await key_of(several, "grid-a", GRID_A_CHANNEL, WorkspaceRef(GRID_A, GRID))
    grid_b = await key_of(several, "grid-b", "C3OPS", WorkspaceRef(GRID_B, GRID))
    grid_id = await ask(grid_a, GINA)
    tries = (("GET", "?wait=0", None), ("DELETE", "", None), ("POST", "/use", {"token": "process-1"}))
    for client, approval_id in ((other, home_id), (other, grid_id), (grid_b, grid_id)):
        for method, tail, body in tries:
            status, answer, _ = await client.call(method, f"/api/v1/approvals/{approval_id}{tail}", body=body)
            assert (status, answer["error"]["code"]) == (404, "not_found"), (method, answer)
    # within one organisation's data (one tenant), the refusal names the key
    refused = [e for e in await audit_events(several, "refused") if e.get("approval") == grid_id]
    assert refused and refused[0]["by"] == "key grid-b" and "another workspace" in refused[0]["reason"]
    assert await status_in(several.services.store, home_id) == "pending"
    assert await status_in(store_of(several, GRID), grid_id) == "pending"
    assert (await grid_a.wait(grid_id, wait=0))["status"] == "pending"  # its own key reads it


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_one_workspace_rate_limited_while_the_others_cards_go_on(slack: SlackStandIn, several: Worker) -> None:
    other = await key_of(several, "other", OTHER_CHANNEL, WorkspaceRef(OTHER_TEAM))
    home = await key_of(several, "home", SALES, None)
    slack.limit("chat.postMessage", 1, 3, team=OTHER_TEAM)  # one post in 3 s there: the next answered 429
    await ask(other, DAN)  # the other workspace's tenant is served (its parts built), its one post spent
    held = asyncio.create_task(ask(other, ERIN))  # its card waits out Slack's Retry-After, in its own client
    await until(lambda: any(not c.ok and c.team == OTHER_TEAM for c in slack.calls("chat.postMessage")),
                what="the other workspace's post refused with 429")
    ids = [await ask(home, ALICE) for _ in range(5)]  # the home workspace's cards go on meanwhile
    for approval_id in ids:
        await card_in(slack, "C0APPROVALS", approval_id)
    other_id = await until(lambda: held.done() and held.result(), what="the other workspace's card, after its wait")
    await card_in(slack, OTHER_CHANNEL, other_id)
    posts = [(c.team, c.ok) for c in slack.calls("chat.postMessage")]
    refused_at = posts.index((OTHER_TEAM, False))
    posted_at = len(posts) - 1 - posts[::-1].index((OTHER_TEAM, True))
    home_posts = [i for i, (team, ok) in enumerate(posts) if team == TEAM_ID and ok]
    # every home card went out while the other workspace waited: after its 429, before its card
    assert len(home_posts) == 5 and all(refused_at < i < posted_at for i in home_posts), posts
    assert {team for team, ok in posts if not ok} == {OTHER_TEAM}


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_a_worker_serves_the_tenants_served_before_from_its_start(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    first = await several_worker(slack, redis_url, tmp_path)
    try:
        status, asked = await (await key_of(first, "other", OTHER_CHANNEL, WorkspaceRef(OTHER_TEAM))).ask(
            tool_ask(requester=DAN, timeout=4))
        assert status == 201, asked
    finally:
        await first.stop()
    second = await several_worker(slack, redis_url, tmp_path)
    try:
        tenancy: Tenancy = second.runner.app[TENANCY]
        assert tenancy.built() == []  # nothing built at start: the tenant's work is in the due index
        assert await until(lambda: decided_in(store_of(second, OTHER_TEAM), str(asked["id"])),
                           what="the other workspace's deadline swept", within=20) == "timed_out"
        assert [p.store.keys.prefix for p in tenancy.built()] == [f"hitl:ws:{OTHER_TEAM}"]  # built when it came due
    finally:
        await second.stop()



async def test_a_step_up_link_of_another_workspace_is_served_in_that_workspace(several: Worker) -> None:
    tenancy: Tenancy = several.runner.app[TENANCY]
    other = await tenancy.parts(WorkspaceRef(OTHER_TEAM))
    path = (await other.stepup.link(DAN)).removeprefix(ORIGIN)  # a link Dan's Home gives him in his workspace
    async with pages_client() as http:  # signed in as the link's person (Sign in with Slack)
        async with http.get(several.url + path) as page:
            text = await page.text()
            assert page.status == 200 and "Set up a passkey" in text
        async with http.post(several.url + path + "/options", json={}) as answer:
            options = await answer.json()
        assert answer.status == 200 and user_id_of(options) == DAN, options
        body = {"name": "laptop", "credential": registration(options, origin=ORIGIN)}
        async with http.post(several.url + path, json=body) as answer:
            assert (answer.status, await answer.json()) == (200, {"ok": True, "name": "laptop"})
    # kept with his workspace's data, not the home workspace's
    assert [p.name for p in await store_of(several, OTHER_TEAM).passkeys.of(DAN)] == ["laptop"]
    assert await several.services.store.passkeys.of(DAN) == []


async def test_an_org_tokens_user_group_calls_name_the_workspace(slack: SlackStandIn, several: Worker) -> None:
    """Slack needs `team_id` in `usergroups.users.list` with an org-wide token (else `missing_argument`)."""
    grid = store_of(several, GRID)
    await grid.settings.set(GRID_A_CHANNEL, "approvers", "S2APPROVERS", by="operator")  # Gina and Hank
    approval_id = await ask(await key_of(several, "grid", GRID_A_CHANNEL, WorkspaceRef(GRID_A, GRID)), HANK)
    card = await card_in(slack, GRID_A_CHANNEL, approval_id)
    assert (await slack.click(user=GINA, channel=GRID_A_CHANNEL, ts=card["ts"], action_id=APPROVE)).status == 200
    assert await until(lambda: decided_in(grid, approval_id), what="the group member's approval") == "approved"
    listed = [c for c in slack.calls("usergroups.users.list") if c.ok]
    assert listed and all(c.args.get("team_id") == GRID_A for c in listed)


async def test_an_org_user_group_of_the_organisations_other_workspace_is_found(
    slack: SlackStandIn, several: Worker
) -> None:
    """With an org token Slack reads a group only in its own workspace: S3REVIEWERS is T0GRIDB's (Gina in it)."""
    grid = store_of(several, GRID)
    await grid.settings.set(GRID_A_CHANNEL, "approvers", "S3REVIEWERS", by="operator")
    approval_id = await ask(await key_of(several, "grid", GRID_A_CHANNEL, WorkspaceRef(GRID_A, GRID)), HANK)
    card = await card_in(slack, GRID_A_CHANNEL, approval_id)
    assert (await slack.click(user=GINA, channel=GRID_A_CHANNEL, ts=card["ts"], action_id=APPROVE)).status == 200
    assert await until(lambda: decided_in(grid, approval_id), what="the group member's approval") == "approved"
    found = [c.args.get("team_id") for c in slack.calls("usergroups.users.list") if c.ok]
    assert found and set(found) == {GRID_B}, found


async def test_status_and_homes_are_each_workspaces_own(slack: SlackStandIn, several: Worker) -> None:
    approval_id = await ask(await key_of(several, "other", OTHER_CHANNEL, WorkspaceRef(OTHER_TEAM)), ERIN)
    run = await store_of(several, OTHER_TEAM).approvals.get(approval_id)
    assert run is not None
    # `/agent status` typed in the other workspace reads that workspace's runs
    said = await slack.send_command(user=DAN, channel=OTHER_CHANNEL, text="status")
    assert said.status == 200 and run.run_id in said.body, said.body
    # a Home opened there is published with that workspace's token, within that workspace's budget
    assert (await slack.open_home(user=DAN)).status == 200
    await until(lambda: [c for c in slack.calls("views.publish") if c.ok and c.args.get("user_id") == DAN],
                what="Dan's Home published")
    assert {c.team for c in slack.calls("views.publish") if c.ok} == {OTHER_TEAM}
    redis = several.services.redis
    assert await redis.exists(f"hitl:ws:{OTHER_TEAM}:homes:publishes") == 1
    assert await redis.exists("hitl:homes:publishes") == 0  # the home workspace's budget is untouched


async def test_the_report_reads_one_workspace(slack: SlackStandIn, several: Worker, tmp_path: Path) -> None:
    home_id = await ask(await key_of(several, "home", SALES, None), ALICE)
    other_id = await ask(await key_of(several, "other", OTHER_CHANNEL, WorkspaceRef(OTHER_TEAM)), ERIN)
    store = several.services.store
    for team, mine, theirs in ((OTHER_TEAM, other_id, home_id), (TEAM_ID, home_id, other_id)):
        history = await read_history(store, since=0, channels=(), now=time.time(), team=team)
        assert [a.id for a in history.waiting] == [mine]
        about = {e.get("approval") for e in history.entries} - {None}
        assert mine in about and theirs not in about
    everyone = await read_history(store, since=0, channels=(), now=time.time())
    assert {home_id, other_id} <= {e.get("approval") for e in everyone.entries}
    assert build_report(since="1d", channels=(), out=tmp_path / "r.html", team="T0EU; DROP") == 2  # said, not run


async def test_each_workspaces_answers_link_its_card(slack: SlackStandIn, several: Worker) -> None:
    other = await key_of(several, "other", OTHER_CHANNEL, WorkspaceRef(OTHER_TEAM))
    grid = await key_of(several, "grid", GRID_A_CHANNEL, WorkspaceRef(GRID_A, GRID))
    for client, channel, requester, tenant in ((other, OTHER_CHANNEL, ERIN, OTHER_TEAM),
                                               (grid, GRID_A_CHANNEL, HANK, GRID)):
        approval_id = await ask(client, requester)
        card = await card_in(slack, channel, approval_id)
        await until(partial(card_kept, store_of(several, tenant), approval_id), what="the card's ts kept")
        link = f"{slack.base_url}/archives/{channel}/p{card['ts'].replace('.', '')}"
        assert (await client.wait(approval_id, wait=0)).get("card_url") == link


async def card_kept(store: Store, approval_id: str) -> bool:
    approval = await store.approvals.get(approval_id)
    return approval is not None and bool(approval.card_ts)


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_metrics_and_healthz_count_every_workspace(slack: SlackStandIn, several: Worker) -> None:
    await ask(await key_of(several, "home", SALES, None), ALICE)
    other = await key_of(several, "other", OTHER_CHANNEL, WorkspaceRef(OTHER_TEAM))
    other_id = await ask(other, ERIN)
    await ask(await key_of(several, "grid", GRID_A_CHANNEL, WorkspaceRef(GRID_A, GRID)), HANK)
    async with aiohttp.ClientSession() as http, http.get(several.url + "/metrics") as response:
        scraped = await response.text()
    assert "\nhitl_pending_approvals 3.0\n" in scraped, scraped
    assert f'hitl_waiting_approvals{{channel="{OTHER_CHANNEL}"}} 1.0' in scraped
    waiting = asyncio.create_task(other.wait(other_id, wait=20))  # a long-poll of the other workspace's key
    try:
        said = await until(lambda: long_polls(several), what="/healthz counting the other workspace's long-poll")
        assert said == 1
    finally:
        waiting.cancel()


async def long_polls(worker: Worker) -> int:
    async with aiohttp.ClientSession() as http, http.get(worker.url + "/healthz") as response:
        return int((await response.json())["api_long_polls"])


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_a_reveal_link_of_another_workspace_shows_that_workspaces_approval(several: Worker) -> None:
    tenancy: Tenancy = several.runner.app[TENANCY]
    other = await tenancy.parts(WorkspaceRef(OTHER_TEAM))
    client = await key_of(several, "other", OTHER_CHANNEL, WorkspaceRef(OTHER_TEAM))
    status, asked = await client.ask(tool_ask(requester=ERIN, tool={"name": "refund", "arguments": {
        "order": "A-77", "card": {"number": "4111111111111111"}, "amount": 12}}))
    assert status == 201, asked
    path = (await other.reveals.link(DAN, str(asked["id"]))).removeprefix(ORIGIN)  # what Dan's click is answered
    async with pages_client() as http, http.get(several.url + path, allow_redirects=False) as page:
        text = await page.text()
        assert page.status == 200 and "4111111111111111" in text, text
    revealed = await audit_events(several, "revealed")  # (in T0OTHER's own audit chain)
    assert [(e["by"], e["approval"]) for e in revealed] == [(DAN, asked["id"])]


async def test_a_receipt_is_spent_in_its_approvals_workspace_and_only_there(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    keys = tmp_path / "signing.json"
    ensure_keys_file(keys)
    worker = await several_worker(slack, redis_url, tmp_path, SIGNING_KEYS_FILE=str(keys))
    try:
        other = await key_of(worker, "other", OTHER_CHANNEL, WorkspaceRef(OTHER_TEAM))
        approval_id = await ask(other, ERIN)
        card = await card_in(slack, OTHER_CHANNEL, approval_id)
        assert (await slack.click(user=DAN, channel=OTHER_CHANNEL, ts=card["ts"], action_id=APPROVE)).status == 200
        receipt = (await other.wait(approval_id))["receipt"]
        status, used = await spend(worker, approval_id, receipt, "executor-1")  # no key: the receipt routes it
        assert (status, used.get("used"), used.get("status")) == (200, True, "approved"), used
        assert (await spend(worker, approval_id, receipt, "executor-2"))[0] == 409  # once, in its own data
        # a record kept in one tenant's data that names another workspace is never spent there
        grid_key = await key_of(worker, "grid", GRID_A_CHANNEL, WorkspaceRef(GRID_A, GRID))
        stray = await ask(grid_key, HANK)
        card = await card_in(slack, GRID_A_CHANNEL, stray)
        assert (await slack.click(user=GINA, channel=GRID_A_CHANNEL, ts=card["ts"], action_id=APPROVE)).status == 200
        stray_receipt = (await grid_key.wait(stray))["receipt"]
        await worker.services.redis.hset(store_of(worker, GRID).keys.approval(stray),
                                         mapping={"team": OTHER_TEAM, "enterprise": ""})
        status, refused = await spend(worker, stray, stray_receipt, "executor-3")
        assert (status, refused["error"]["code"]) == (404, "not_found"), refused
        assert (await spend(worker, "a-" + "b" * 24, receipt, "executor-4"))[0] == 401  # forged for it: refused
    finally:
        await worker.stop()


@pytest.mark.slow  # a redis-server of its own, stopped and started again
async def test_redis_down_when_a_workspaces_parts_are_first_built_says_try_again(
    slack: SlackStandIn, tmp_path: Path
) -> None:
    (tmp_path / "redis").mkdir()
    redis = start_redis(workdir=str(tmp_path / "redis"), appendonly=True)
    worker = await several_worker(slack, redis.url, tmp_path)
    try:
        assert await until(lambda: worker.services.store.tenants.home(), what="the home workspace learnt")
        redis.process.terminate()
        redis.process.wait(timeout=10)
        said = await slack.send_command(user=DAN, channel=OTHER_CHANNEL, text="status")
        assert said.status == 200 and "cannot reach its storage" in said.body, said
        opened = await slack.open_home(user=DAN)  # an event: Slack sends it again
        assert (opened.status, opened.retry_after) == (503, "2"), opened
        redis.process = start_redis(port=redis.port, workdir=redis.workdir, appendonly=True).process
        said = await until(lambda: answered(slack), what="the command served once Redis is back", within=20)
        assert "cannot reach" not in said.body
        tenancy: Tenancy = worker.runner.app[TENANCY]
        assert [p.store.keys.prefix for p in tenancy.built()] == [f"hitl:ws:{OTHER_TEAM}"]  # built once
    finally:
        await worker.stop()
        redis.process.kill()
        redis.process.wait(timeout=10)


async def answered(slack: SlackStandIn) -> DeliveryResult | None:
    said = await slack.send_command(user=DAN, channel=OTHER_CHANNEL, text="status")
    return said if said.status == 200 and "cannot reach its storage" not in said.body else None


async def test_a_grid_workspace_installed_alone_is_its_own_tenant(slack: SlackStandIn, redis_url: str) -> None:
    """Not org-wide: that workspace's token only, and its data the workspace's (T0GRIDA), not the organisation's."""
    slack.several_workspaces(installed=False)
    worker = await start_worker(oauth_env(slack, redis_url))
    slack.events_url = worker.url + "/slack/events"
    slack.configure_oauth(redirect_url=worker.url + "/slack/oauth_redirect")
    try:
        assert (await install(worker, slack, f"team:{GRID_A}"))[0] == 200  # the local Slack's page: T0GRIDA alone
        assert await worker.services.store.installations.ids() == [GRID_A]
        approval_id = await ask(await key_of(worker, "grid-a", GRID_A_CHANNEL, WorkspaceRef(GRID_A, GRID)), HANK)
        card = await card_in(slack, GRID_A_CHANNEL, approval_id)
        assert await worker.services.redis.exists(f"hitl:ws:{GRID_A}:deadlines", f"hitl:ws:{GRID}:deadlines") == 1
        assert await store_of(worker, GRID).approvals.get(approval_id) is None
        # Gina's click comes from T0GRIDA (is_enterprise_install false): served by that workspace's parts
        assert (await slack.click(user=GINA, channel=GRID_A_CHANNEL, ts=card["ts"], action_id=APPROVE)).status == 200
        assert await until(lambda: decided_in(store_of(worker, GRID_A), approval_id), what="decided") == "approved"
        tenancy: Tenancy = worker.runner.app[TENANCY]
        assert [p.store.keys.prefix for p in tenancy.built()] == [f"hitl:ws:{GRID_A}"]
        known = await worker.services.store.tenants.known()
        assert [(r.tenant, r.org_wide) for r in known] == [(GRID_A, False)]  # served again so after a restart
    finally:
        await worker.stop()


async def test_a_grid_workspace_listed_alone_in_the_workspaces_file_is_its_own_tenant(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    slack.several_workspaces(installed=False)
    slack.add_team(next(t for t in several_teams() if t.id == GRID_A), token="xoxb-grid-a-alone")  # not org-wide
    listed = tmp_path / "alone.json"
    listed.write_text(json.dumps([{"team": GRID_A, "enterprise": GRID, "bot_token": "env:GRID_A_TOKEN"}]))
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None,
                                        SLACK_WORKSPACES_FILE=str(listed), GRID_A_TOKEN="xoxb-grid-a-alone"))
    slack.events_url = worker.url + "/slack/events"
    try:
        approval_id = await ask(await key_of(worker, "grid-a", GRID_A_CHANNEL, WorkspaceRef(GRID_A, GRID)), HANK)
        card = await card_in(slack, GRID_A_CHANNEL, approval_id)
        assert (await slack.click(user=GINA, channel=GRID_A_CHANNEL, ts=card["ts"], action_id=APPROVE)).status == 200
        assert await until(lambda: decided_in(store_of(worker, GRID_A), approval_id), what="decided") == "approved"
        assert await store_of(worker, GRID).approvals.get(approval_id) is None
    finally:
        await worker.stop()
