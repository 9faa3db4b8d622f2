"""A Teams approver's step-up vote, confirmed on the bot's page, names its surface (issue 81: "the audit names the
person and the surface"): a real worker serving Slack and Teams, the local Bot Connector, the step-up pages signed
in with Slack, a software authenticator. The page's one-time link keeps the surface of the click it answers, so the
vote's and the decision's audit entries (and the core's `VoteCounted`) say `surface: teams` for a Teams click and
nothing for a Slack one, whatever the page's request says."""

from __future__ import annotations

import json
import re
from pathlib import Path

import aiohttp
import pytest

from bot.approvals import VoteCounted
from bot.devmsteams import TeamsStandIn
from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, CAROL, SALES, Worker
from tests.support.api import Client, new_key, tool_ask
from tests.support.hitl import audit_events, nth_card
from tests.support.passkeys import Authenticator
from tests.support.signin import pages_client
from tests.support.stepup import ORIGIN, approve, enrol, post, vote_path
from tests.support.teams import click, start_teams_worker

TEAMS_LINK = re.compile(re.escape(ORIGIN) + r"(/step-up/vote/[A-Za-z0-9_-]+)")


async def teams_approve(teams: TeamsStandIn, channel: str, member: str, approval_id: str) -> str:
    """`member` clicks Approve on the approval's card in the Teams channel; the path of the step-up link they are
    told (in the card's notice)."""
    body = await click(teams, channel, member, "approve", approval_id)
    found = TEAMS_LINK.search(json.dumps(body).replace("\\\\", ""))  # (the card's text escapes punctuation)
    assert found, body
    return found.group(1)


async def confirm_forging(http: aiohttp.ClientSession, worker: Worker, path: str, authenticator: Authenticator,
                          surface: str) -> None:
    """The person confirms on the page with their passkey, the page's requests (URL and body) claiming `surface`."""
    forged = f"?surface={surface}"
    status, options = await post(http, worker.url + path + "/options" + forged, {"surface": surface})
    assert status == 200, options
    status, said = await post(http, worker.url + path + forged,
                              {"credential": authenticator.assertion(options, origin=ORIGIN), "surface": surface})
    assert status == 200, said


def of(entries: list[dict[str, str]], approval_id: str, by: str) -> dict[str, str]:
    [entry] = [e for e in entries if e.get("approval") == approval_id and e.get("by") == by]
    return entry


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
async def test_a_step_up_vote_confirmed_on_the_page_names_the_surface_clicked(
        slack: SlackStandIn, teams: TeamsStandIn, redis_url: str, tmp_path: Path) -> None:
    bob = teams.add_member(name="Bob Brown", email="bob@example.com")  # U0BOB in Slack (the same email)
    channel = teams.add_conversation("channel", "Approvals", [bob])
    teams_file = tmp_path / "teams.yaml"
    teams_file.write_text(f"routes:\n  {SALES}: {{conversation: \"{channel}\"}}\n")
    worker = await start_teams_worker(slack, teams, redis_url, TEAMS_FILE=str(teams_file), STEP_UP_URL=ORIGIN)
    try:
        assert await teams.install(channel) == 200
        store = worker.services.store
        for key, value in (("approvers", f"{BOB},{CAROL}"), ("required_approvals", "2"), ("step_up", "always")):
            assert await store.settings.set(SALES, key, value, by="operator") is None
        counted: list[VoteCounted] = []  # the core's event of a vote that did not decide, naming its surface
        worker.services.approvals.events.subscribe(lambda e: counted.append(e) if isinstance(e, VoteCounted) else None)
        client = Client(worker, (await new_key(worker)).key)
        asked = [await client.ask(tool_ask()) for _ in range(2)]
        assert [status for status, _ in asked] == [201, 201], asked
        first, second = (str(answer["id"]) for _, answer in asked)
        async with pages_client() as http:
            bobs, carols = Authenticator(), Authenticator()
            await enrol(worker, http, BOB, bobs)
            await enrol(worker, http, CAROL, carols)

            # the first: Bob in Teams, then Carol in Slack (deciding); each page's request claims the other surface
            await confirm_forging(http, worker, await teams_approve(teams, channel, bob, first), bobs, "")
            path = vote_path(await approve(slack, CAROL, await nth_card(slack, 1)))
            await confirm_forging(http, worker, path, carols, "teams")
            # the second: Carol in Slack, then Bob in Teams (deciding)
            path = vote_path(await approve(slack, CAROL, await nth_card(slack, 2)))
            await confirm_forging(http, worker, path, carols, "teams")
            await confirm_forging(http, worker, await teams_approve(teams, channel, bob, second), bobs, "slack")

        for approval_id in (first, second):
            assert (await client.wait(approval_id))["status"] == "approved"
        votes = await audit_events(worker, "vote")
        decisions = await audit_events(worker, "decision")
        for approval_id in (first, second):
            assert of(votes, approval_id, BOB)["surface"] == "teams"
            assert of(votes, approval_id, CAROL)["surface"] == "slack"  # every person's vote names its surface
        assert of(decisions, first, CAROL)["surface"] == "slack"
        assert of(decisions, second, BOB)["surface"] == "teams"
        assert sorted((e.approval.id == first, e.surface) for e in counted) == [(False, "slack"), (True, "teams")]
        assert all(e.get("amr") == "pop mfa" for e in (*votes, *decisions) if e.get("approval") in (first, second))
    finally:
        await worker.stop()
