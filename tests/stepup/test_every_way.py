"""Every way a vote is cast goes through step-up: the card and its copies in direct messages, the App Home, a batch
(it leaves step-up approvals out), a delegate's vote, a quorum (each voter's own passkey), Save & approve of edited
arguments; no "always allow" rule approves such a call and no timeout does. Which approvals need it: an ask policy's
`@step_up`, or the channel's `step_up` (`never` is admin only). Real worker, real Redis, the Slack stand-in."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.core.allow_rules import Match, Rule
from bot.core.passkeys import credential_digest
from bot.devslack.model import DevUser, default_users
from bot.devslack.server import SlackStandIn
from bot.policy.bundle import PolicyError, load_bundle
from bot.slack.blocks import ACTION_APPROVE
from tests.conftest import BOB, BOT_TOKEN, CAROL, SALES, SIGNING_SECRET, Worker, block_texts
from tests.support.api import Client, new_key
from tests.support.cli import Ran, bot_command
from tests.support.hitl import audit_events, bot, call, nth_card, open_modal, replay, start, until
from tests.support.homes import dm_cards, open_homes, say
from tests.support.passkeys import Authenticator
from tests.support.policies import policy_cli, refund, write_bundle
from tests.support.signing import signing_worker, verified
from tests.support.stepup import ORIGIN, VOTE_LINK, approve, asked, confirm, enrol, vote_path

DAVE = "U0DAVE"


async def audit_cli(*args: str, redis_url: str, **env: str) -> Ran:
    """`python -m bot audit <args>` with REDIS_URL and `env` as its whole environment (in this process)."""
    return await bot_command("audit", *args, environ={"REDIS_URL": redis_url, **env})


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandIn]:
    """The stand-in with dave, a delegate."""
    users = (*default_users(), DevUser(id=DAVE, name="dave", real_name="Dave Example"))
    standin = SlackStandIn(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN, users=users)
    await standin.start()
    yield standin
    await standin.stop()

STEP_UP_POLICY = """
@id("big-refunds")
@outcome("ask")
@step_up
@reason("a refund of {args.amount_cents|usd} needs a person and their passkey")
forbid (principal, action == Action::"refund", resource)
when { context.args.amount_cents > 100000 };
"""


async def test_a_home_click_gets_the_link_and_a_batch_leaves_it_out(stepup: Worker, slack: SlackStandIn,
                                                                     http: aiohttp.ClientSession) -> None:
    await enrol(stepup, http, BOB, Authenticator())
    _, approval_id, _ = await asked(stepup, slack)
    _, other_id, _ = await asked(stepup, slack, card=2)  # (a batch is offered for two or more)
    await open_homes(slack, BOB)
    assert (await slack.click_view(user=BOB, action_id=ACTION_APPROVE, value=approval_id)).status == 200
    notice = await slack.wait_for(lambda: slack.open_views(BOB) and slack.open_views(BOB)[-1])
    assert "/step-up/vote/" in json.dumps(notice["view"]) and "needs your passkey" in block_texts(notice["view"])

    await slack.click_view(user=BOB, action_id="home_batch", value="batch")
    chooser = await slack.wait_for(
        lambda: (v := slack.open_views(BOB)) and v[-1]["view"].get("callback_id") == "home_batch_modal" and v[-1])
    reviewed = await slack.submit_view(user=BOB, view_id=chooser["id"], values={
        "batch_select": {"batch_select_input": [approval_id, other_id]},
        "batch_outcome": {"batch_outcome_input": "approved"},
    })
    assert reviewed.status == 200 and "needs your passkey" in reviewed.body
    record = await stepup.services.store.approvals.get(approval_id)
    assert record is not None and record.pending and record.votes == ""


@pytest.mark.slow
async def test_a_copy_in_a_direct_message_asks_for_the_passkey_too(stepup: Worker, slack: SlackStandIn,
                                                                   http: aiohttp.ClientSession) -> None:
    store = stepup.services.store
    for key, value in (("approvers", BOB), ("deliver", "dm")):
        assert await store.settings.set(SALES, key, value, by=CAROL) is None
    bobs = Authenticator()
    await enrol(stepup, http, BOB, bobs)
    client, approval_id, _ = await asked(stepup, slack, card=0)
    copy = await slack.wait_for(lambda: dm_cards(slack, BOB) and dm_cards(slack, BOB)[0], description="bob's DM card")
    assert "Approving needs your passkey" in block_texts(copy)
    told = await approve(slack, BOB, copy)
    status, said = await confirm(http, stepup, vote_path(told), bobs)
    assert (status, said["status"]) == (200, "ok")
    assert (await client.wait(approval_id))["status"] == "approved"


@pytest.mark.slow
async def test_a_quorum_counts_each_voters_passkey_and_a_delegate_uses_their_own(
        stepup: Worker, slack: SlackStandIn, http: aiohttp.ClientSession) -> None:
    store = stepup.services.store
    for key, value in (("approvers", f"{BOB},{CAROL}"), ("required_approvals", "2")):
        assert await store.settings.set(SALES, key, value, by=CAROL) is None
    bobs, daves = Authenticator(), Authenticator()
    bob_key, dave_key = await enrol(stepup, http, BOB, bobs), await enrol(stepup, http, DAVE, daves)
    reply = await say(slack, "away until 2h delegate @dave", user=CAROL)
    assert f"<@{DAVE}> may decide for you" in reply
    client, approval_id, card = await asked(stepup, slack)

    status, said = await confirm(http, stepup, vote_path(await approve(slack, BOB, card)), bobs)
    assert (status, said["status"]) == (200, "vote") and "1 of 2" in said["message"]
    record = await store.approvals.get(approval_id)
    assert record is not None and record.pending and record.voters == [BOB]
    assert "Your approval already counts" in await approve(slack, BOB, card)  # no second link for a second vote

    told = await approve(slack, DAVE, card)  # for Carol, away: Dave's own passkey
    status, said = await confirm(http, stepup, vote_path(told), daves)
    assert (status, said["status"]) == (200, "ok"), said
    decided = await client.wait(approval_id)
    assert decided["status"] == "approved"
    _, claims = await verified(stepup, decided["receipt"])
    people = {person["id"]: person for person in claims["decided_by"]}
    assert people[BOB]["passkey"] == credential_digest(bob_key) and people[BOB]["amr"] == ["pop", "mfa"]
    assert people[DAVE]["passkey"] == credential_digest(dave_key) and people[DAVE]["on_behalf_of"] == CAROL
    [decision] = [e for e in await audit_events(stepup, "decision") if e["approval"] == approval_id]
    assert [a["by"] for a in json.loads(decision["assurances"])] == [BOB, DAVE]
    votes = [e for e in await audit_events(stepup, "vote") if e["approval"] == approval_id]
    assert [(v["by"], v["passkey"]) for v in votes] == [(BOB, credential_digest(bob_key)),
                                                        (DAVE, credential_digest(dave_key))]


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_no_rule_approves_it_and_no_timeout_does(stepup: Worker, slack: SlackStandIn) -> None:
    store = stepup.services.store
    now = time.time()
    rule = Rule(id="", scope="channel", channel=SALES, run="", match=Match(tool="send_email"), created_by=CAROL,
                created_at=now, expires_at=now + 3600)
    assert (await store.rules.create(rule)).startswith("R")
    for key, value in (("timeout", "2"), ("timeout_outcome", "approve"), ("timeout_approves_tools", "true")):
        assert await store.settings.set(SALES, key, value, by=CAROL) is None
    client, approval_id, card = await asked(stepup, slack)  # a card, though the rule matches the call
    assert "Approving needs your passkey" in block_texts(card)
    decided = await client.wait(approval_id, wait=20)
    assert decided["status"] == "timed_out" and "passkey" in decided["reason"]
    record = await store.approvals.get(approval_id)
    assert record is not None and record.timeout_outcome == "reject" and not decided.get("receipt")


async def test_which_approvals_need_it_a_policys_step_up_and_the_channel_setting(
        slack: SlackStandIn, redis_url: str, tmp_path: Path) -> None:
    folder = write_bundle(tmp_path / "policies", {"refunds.cedar": STEP_UP_POLICY})
    assert load_bundle(folder).policies["big-refunds"].step_up
    write_bundle(tmp_path / "wrong", {"a.cedar": '@id("x")\n@step_up\nforbid (principal, action, resource);\n'})
    try:
        load_bundle(tmp_path / "wrong")
        raise AssertionError("a @step_up on a policy that does not ask loaded")
    except PolicyError as exc:
        assert "a.cedar:1" in str(exc) and "@step_up" in str(exc)

    worker = await signing_worker(slack, redis_url, tmp_path / "keys.json", STEP_UP_URL=ORIGIN, ADMIN_USERS=CAROL,
                                  POLICY_DIR=str(folder))
    try:
        store = worker.services.store
        client = Client(worker, (await new_key(worker)).key)
        status, big = await client.ask(refund(250_000))
        assert status == 201, big
        status, small = await client.ask(refund(5_000))
        assert status == 201, small
        first = await store.approvals.get(big["id"])
        second = await store.approvals.get(small["id"])
        assert first is not None and first.step_up == "policy" and second is not None and second.step_up == ""
        card = await nth_card(slack, 1)
        assert "Approving needs your passkey" in block_texts(card) and "big-refunds" in block_texts(card)

        refused = await say(slack, "config step_up never", user=BOB)  # widens who may approve: admins only
        assert "only an admin" in refused
        assert (await store.settings.get(SALES, default_timeout=600)).step_up == "high-risk"
        assert "step_up" in await say(slack, "config step_up never", user=CAROL)
        status, later = await client.ask(refund(300_000))
        assert status == 201
        third = await store.approvals.get(later["id"])
        assert third is not None and third.step_up == "policy"  # the channel's `never` does not lower a policy
        assert "step_up" in await say(slack, "config step_up always", user=BOB)  # narrowing: anyone may
        status, last = await client.ask(refund(5_000))
        assert status == 201
        fourth = await store.approvals.get(last["id"])
        assert fourth is not None and fourth.step_up == "channel"
    finally:
        await worker.stop()


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_save_and_approve_of_an_edit_asks_the_editor_for_their_passkey(
        slack: SlackStandIn, redis_url: str, tmp_path: Path, http: aiohttp.ClientSession) -> None:
    email = {"to": "bob@example.com", "subject": "Price change", "body": "Dear Bob,\nPrices change on May 1."}
    model = replay(call("send_email", email), "Sent it to Carol.")
    async with bot(slack, redis_url, tmp_path, model, STEP_UP_URL=ORIGIN) as worker:
        assert await worker.services.store.settings.set(SALES, "step_up", "always", by=CAROL) is None
        bobs = Authenticator()
        await enrol(worker, http, BOB, bobs)
        await start(slack, "--team email Tell bob@example.com about the price change")
        view = await open_modal(slack, await nth_card(slack, 1), user=BOB)
        answer = await slack.submit_view(user=BOB, view_id=view["id"], values={
            "arg_0": {"arg_input": "carol@example.com"}, "then": {"then_input": "approve"}})
        assert answer.status == 200
        edited = await nth_card(slack, 2)
        assert "carol@example.com" in block_texts(edited) and "Approving needs your passkey" in block_texts(edited)
        told = await slack.wait_for(lambda: [e["text"] for e in slack.ephemerals(BOB) if VOTE_LINK.search(e["text"])],
                                    description="the editor's link")
        outbox = tmp_path / "outbox"
        assert not outbox.exists() or not list(outbox.glob("*.eml"))  # nothing sent before the passkey
        status, said = await confirm(http, worker, vote_path(told[-1]), bobs)
        assert (status, said["status"]) == (200, "ok"), said
        sent = await until(lambda: list(outbox.glob("*.eml")) if outbox.exists() else [], what="the edited email")
        assert "carol@example.com" in sent[0].read_text()
        decisions = [(e["outcome"], e["by"], e.get("amr", "")) for e in await audit_events(worker, "decision")]
        assert decisions == [("revised", BOB, ""), ("approved", BOB, "pop mfa")]



@pytest.mark.slow
async def test_the_evidence_in_audit_verify_and_policy_explain(
        slack: SlackStandIn, redis_url: str, tmp_path: Path, http: aiohttp.ClientSession) -> None:
    windows = "windows:\n  refunds_24h: {sum: args.amount_cents, per: [principal], over: 24h}\n"
    folder = write_bundle(tmp_path / "policies", {"refunds.cedar": STEP_UP_POLICY, "policy.yaml": windows})
    keys = tmp_path / "keys.json"
    worker = await signing_worker(slack, redis_url, keys, STEP_UP_URL=ORIGIN, POLICY_DIR=str(folder))
    try:
        bobs = Authenticator()
        credential = await enrol(worker, http, BOB, bobs)
        client = Client(worker, (await new_key(worker)).key)
        status, big = await client.ask(refund(250_000))
        assert status == 201, big
        path = vote_path(await approve(slack, BOB, await nth_card(slack, 1)))
        async with http.get(worker.url + path) as page:  # the exact action, and the amount the policies read
            text = await page.text()
            assert "a refund of $2,500 needs a person and their passkey" in text, text
            assert "args.amount_cents = 250,000 ($2,500)" in text, text
        status, said = await confirm(http, worker, path, bobs)
        assert (status, said["status"]) == (200, "ok"), said
        assert (await client.wait(big["id"]))["status"] == "approved"
    finally:
        await worker.stop()
    explained, verified_log = await asyncio.gather(
        policy_cli("explain", big["id"], redis_url=redis_url, POLICY_DIR=str(folder)),
        audit_cli("verify", redis_url=redis_url, SIGNING_KEYS_FILE=str(keys)),
    )
    assert explained.returncode == 0, explained.stderr
    said = explained.stdout
    assert "big-refunds  forbid → ask" in said and "step_up: each Approve needs the voter's passkey" in said, said
    assert "step-up: required by the policy's @step_up" in said, said
    assert f"decision approved by {BOB}, confirmed by passkey {credential_digest(credential)[:12]}" in said, said
    assert verified_log.returncode == 0, verified_log.stderr
    assert "audit log intact" in verified_log.stdout
    assert "1 vote among them confirmed by a passkey" in verified_log.stdout, verified_log.stdout


async def test_a_rule_made_from_a_step_up_card_is_refused_and_approves_nothing(stepup: Worker,
                                                                                slack: SlackStandIn) -> None:
    _, approval_id, card = await asked(stepup, slack)
    record = await stepup.services.store.approvals.get(approval_id)
    assert record is not None
    made = await stepup.services.rules.from_card(BOB, record, (card["channel"], card["ts"]), scope="run",
                                                 match=Match(tool="send_email"), expires_in=3600)
    assert made.rule is None and "needs each approver's passkey" in made.message
    assert await stepup.services.store.rules.candidates(SALES) == []
    after = await stepup.services.store.approvals.get(approval_id)
    assert after is not None and after.pending and after.votes == ""
    [refused] = [e for e in await audit_events(stepup, "rule_refused") if e.get("approval") == approval_id]
    assert refused["by"] == BOB
