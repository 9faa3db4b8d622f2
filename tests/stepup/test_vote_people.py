"""Only our own people vote, on the vote's page too (#63.6): a link given to a person on their click stops working
as soon as Slack says they are deactivated, or a guest, or that Slack cannot say who they are (the page asks Slack
afresh, as a click is checked); refused, audited, nothing counted. Real worker over HTTP, redis-server, the Slack
stand-in (whose people change under the open link)."""

from __future__ import annotations

from dataclasses import replace

import aiohttp

from bot.approvals.refusals import CANNOT_CHECK
from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, Worker
from tests.support.passkeys import Authenticator
from tests.support.stepup import approve, asked, confirm, enrol, post, vote_path


async def test_a_vote_link_stops_working_once_its_person_is_deactivated_or_a_guest(
    stepup: Worker, slack: SlackStandIn, http: aiohttp.ClientSession,
) -> None:
    store = stepup.services.store
    bob = next(p for p in slack.people() if p.id == BOB)
    bobs = Authenticator()
    await enrol(stepup, http, BOB, bobs)
    _, approval_id, card = await asked(stepup, slack)
    path = vote_path(await approve(slack, BOB, card))  # his click passed the check: he was one of ours then

    for changed, words, reason in ((replace(bob, deleted=True), "deactivated", "outsider: deactivated"),
                                   (replace(bob, guest=True), "Guest accounts", "outsider: guest")):
        slack.set_user(changed)  # refused as soon as the page is used: signed in, he is checked as a click is
        status, said = await post(http, stepup.url + path + "/options", {})
        assert status == 403 and words in said["error"] and "othing was done" in said["error"], said
        record = await store.approvals.get(approval_id)
        assert record is not None and record.pending and record.votes == "" and record.assurances == ""
        refused = [e for e in await store.audit.entries() if e["event"] == "refused" and e.get("reason") == reason]
        assert [(e["by"], e["approval"]) for e in refused] == [(BOB, approval_id)]

    slack.fail(method="users.info", status=502, count=1)  # Slack cannot say who he is: refused, never counted
    status, said = await post(http, stepup.url + path + "/options", {})
    assert status == 503 and said["error"] == CANNOT_CHECK
    record = await store.approvals.get(approval_id)
    assert record is not None and record.pending

    slack.set_user(bob)  # one of ours again: the same link still works
    status, said = await confirm(http, stepup, path, bobs)
    assert status == 200 and said["status"] == "ok", said
