"""One Bolt app per worker serves every workspace (issue 78): a request's workspace is resolved at the edge and its
parts travel in the request's context, so the first request of a workspace builds no second Bolt app, and each
listener sees the parts of the workspace its request comes from, never another's.

Real parts: redis-server, the worker's HTTP server and Bolt app over signed HTTP; Slack is the stand-in, with the
home workspace (T0DEV), a plain one (T0OTHER) and a Grid organisation installed org-wide (E0GRID)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.core.workspaces import WorkspaceRef
from bot.devslack.model import GRID, OTHER_TEAM
from bot.devslack.server import SlackStandIn
from bot.server import BOLT, TENANCY
from bot.services import Services
from bot.slackapp.context import parts_of, workspace_of
from bot.tenancy import Tenancy
from tests.conftest import ALICE, SALES, Worker, bot_env, start_worker

DAN, GINA = "U1DAN", "W0GINA"  # of T0OTHER, of T0GRIDA (E0GRID)
OTHER_CHANNEL, GRID_A_CHANNEL = "C1APPROVALS", "C2APPROVALS"


@pytest.fixture
async def worker(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> AsyncIterator[Worker]:
    """A worker installed in the home workspace, T0OTHER (a workspaces file) and org-wide in E0GRID."""
    tokens = slack.several_workspaces()
    listed = tmp_path / "workspaces.json"
    listed.write_text(json.dumps([{"team": OTHER_TEAM, "bot_token": "env:OTHER_TOKEN"},
                                  {"enterprise": GRID, "bot_token": "env:GRID_TOKEN"}]))
    started = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None,
                                         SLACK_WORKSPACES_FILE=str(listed), OTHER_TOKEN=tokens[OTHER_TEAM],
                                         GRID_TOKEN=tokens[GRID]))
    slack.events_url = started.url + "/slack/events"
    yield started
    await started.stop()


def probed(bolt: AsyncApp) -> list[tuple[WorkspaceRef | None, Services]]:
    """What a listener of `/probe` on `bolt` sees of each request it serves: its workspace and its parts."""
    seen: list[tuple[WorkspaceRef | None, Services]] = []

    async def probe(ack: AsyncAck, context: AsyncBoltContext) -> None:
        seen.append((workspace_of(context), parts_of(context)))
        await ack()

    bolt.command("/probe")(probe)
    return seen


async def test_one_bolt_app_serves_three_workspaces_each_with_its_own_parts(
    slack: SlackStandIn, worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[AsyncApp] = []
    real_init = AsyncApp.__init__

    def counted(self: AsyncApp, *args: Any, **kwargs: Any) -> None:
        built.append(self)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(AsyncApp, "__init__", counted)
    seen = probed(worker.runner.app[BOLT])
    for user, channel in ((ALICE, SALES), (DAN, OTHER_CHANNEL), (GINA, GRID_A_CHANNEL)):
        said = await slack.send_command(user=user, channel=channel, text="", command="/probe")
        assert said.status == 200, (user, said)
    assert built == []  # the first request of T0OTHER and of E0GRID built no Bolt app of their own
    tenancy: Tenancy = worker.runner.app[TENANCY]
    other, grid = await tenancy.parts(WorkspaceRef(OTHER_TEAM)), await tenancy.parts(WorkspaceRef(GRID, GRID))
    assert len({id(other), id(grid), id(worker.services)}) == 3
    # each request saw its own workspace's parts, and only those (the org-wide install: judged as its organisation)
    assert [(ref and ref.tenant, parts) for ref, parts in seen] == [
        (None, worker.services), (OTHER_TEAM, other), (GRID, grid)]
    assert [parts.store.keys.prefix for _, parts in seen] == [
        worker.services.store.keys.prefix, f"hitl:ws:{OTHER_TEAM}", f"hitl:ws:{GRID}"]


async def test_a_request_not_resolved_at_the_edge_is_served_by_no_workspaces_parts(worker: Worker) -> None:
    """The Bolt app given a request that did not come through the edge (no workspace in its context): no listener
    runs, and nothing falls back to the home workspace's parts."""
    bolt: AsyncApp = worker.runner.app[BOLT]
    seen = probed(bolt)
    form = {"command": "/probe", "team_id": OTHER_TEAM, "user_id": DAN, "channel_id": OTHER_CHANNEL, "text": ""}
    answer = await bolt.async_dispatch(AsyncBoltRequest(body=form, mode="socket_mode"))
    assert answer.status == 500 and seen == []  # (the listener's failure, logged as an ERROR)
    with pytest.raises(LookupError, match="not resolved at the edge"):
        parts_of({"workspace": None})
