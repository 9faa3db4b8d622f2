"""What issue 65 left of serving every workspace, found from outside (issue 78): a click sent with another
workspace's team is refused and audited; a workspace of the organisation the app is not added to is told so, and no
API key is made for it or asks there; a tenant's expiring token is rotated before an API ask uses it; after an
uninstall the workspace's keys refuse and its card updates stop; /healthz notices a token Slack refuses after start.

Real parts: redis-server, the worker's HTTP server and Bolt app over signed HTTP; Slack is the local stand-in."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import aiohttp

from bot.devslack.server import SlackStandIn
from tests.conftest import ALICE, APPROVALS, SALES, Worker
from tests.scenarios.test_tenants import APPROVE, DAN, OTHER_TEAM, ask, card_in, key_of, refusals_of, several, status_in
from tests.support.hitl import until

__all__ = ["several"]  # the fixture: a worker installed in the home workspace, T0OTHER, and org-wide in E0GRID


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
    payload = {"type": "block_actions", "user": {"id": DAN, "username": "dan", "team_id": OTHER_TEAM},
               "team": {"id": OTHER_TEAM, "domain": "other-workspace"}, "api_app_id": "A0APP",
               "container": {"type": "message", "message_ts": card["ts"], "channel_id": APPROVALS},
               "channel": {"id": APPROVALS}, "trigger_id": "1.2.3", "message": card,
               "actions": [{"action_id": APPROVE, "block_id": block, "value": button["value"], "type": "button"}]}
    assert await post_signed(slack, several, payload) == 200
    entries = await until(lambda: refusals_of(several, DAN), what="the refusal audited")
    assert entries[0]["team"] == OTHER_TEAM and entries[0]["approval"] == home_id, entries
    assert "another workspace" in entries[0]["reason"], entries
    assert await status_in(several.services.store, home_id) == "pending"
