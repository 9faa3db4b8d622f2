"""A triage model's held approval reversed from the e-mail's Review-and-decide page (#92 item 3, TRIAGE_HOLD: "a way
for the route's admins to reverse it while the run waits", on every surface; push's page is the same page,
bot/links/page.py): while the model's approval is held the page offers "Reverse the model's approval"; Bob, an
approver by his address but no admin of the channel, is refused (403, told so, audited naming him and `surface:
email`); Carol, a channel admin (ADMIN_USERS), reverses it through the core's one step (audited `triage_reversed`
naming her); her link is not used up by it: people then decide, and she approves with it. A real worker serving Slack
and e-mail, the local mail catcher, the local Slack as the identity provider, a scripted OpenAI-compatible model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.devmail.catcher import Caught, MailCatcher
from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, CAROL, SALES, Worker, bot_env, start_worker
from tests.support.api import Client, new_key
from tests.support.hitl import audit_events, until, write_config
from tests.support.mail import csrf_of, email_env, post
from tests.support.openai_compatible import OpenAICompatibleServer, openai_config
from tests.support.policies import refund, write_bundle
from tests.support.signin import browser, signed_in
from tests.support.triage import LOW, MODEL, PERMITTED, model_server

pytestmark = pytest.mark.slow  # a worker serving Slack and e-mail, a model server

ROUTES = PERMITTED
REVERSE = 'value="triage_reverse"'


@pytest.fixture
async def model() -> AsyncIterator[OpenAICompatibleServer]:
    async with model_server() as server:
        yield server


@pytest.fixture
async def held(slack: SlackStandIn, mail: MailCatcher, redis_url: str, tmp_path: Path,
               model: OpenAICompatibleServer) -> AsyncIterator[Worker]:
    """A worker serving Slack and e-mail, whose triage model's approvals are held longer than the test."""
    config = write_config(tmp_path, openai_config(model.base_url, model=MODEL, max_retries=0))
    env = bot_env(slack=slack, redis_url=redis_url, model_config=config, **email_env(slack, mail),
                  POLICY_DIR=str(write_bundle(tmp_path / "policies", {"refunds.cedar": ROUTES})),
                  TRIAGE_HOLD="600", ADMIN_USERS=CAROL)
    worker = await start_worker(env)
    slack.events_url = worker.url + "/slack/events"
    yield worker
    await worker.stop()


def link_of(mail: MailCatcher, address: str, approval: str) -> str | None:
    """The path of the Review-and-decide link mailed to `address` for `approval`, once mailed."""
    found: list[Caught] = [m for m in mail.inbox(address) if any(f"/email/{approval}/" in u for u in m.links)]
    return "/email/" + found[0].links[0].split("/email/", 1)[1] if found else None


async def page_of(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url, allow_redirects=False) as page:
        assert page.status == 200
        return await page.text()


async def test_a_channel_admin_reverses_the_models_approval_on_the_page_anyone_else_is_refused_and_audited(
        held: Worker, mail: MailCatcher, model: OpenAICompatibleServer) -> None:
    store = held.services.store
    await store.settings.set(SALES, "approvers", "email:carol@example.com,email:bob@example.com", by="operator")
    model.add(LOW)
    client = Client(held, (await new_key(held)).key)
    status, asked = await client.ask(refund(500))
    assert (status, asked["status"]) == (201, "pending"), asked
    approval = str(asked["id"])

    async def is_held() -> bool:
        record = await store.approvals.get(approval)
        return record is not None and bool(record.triage_hold)

    await until(is_held, what="the model's approval held")
    bob_path = await until(lambda: link_of(mail, "bob@example.com", approval), within=15, what="Bob's mail")
    carol_path = await until(lambda: link_of(mail, "carol@example.com", approval), within=15, what="Carol's mail")

    # Bob is an approver, no admin of the channel: the page offers Reverse (the core decides who may), he is refused
    async with browser() as http:
        url = held.url + bob_path
        await signed_in(http, held.url, bob_path, person=BOB)
        assert REVERSE in await page_of(http, url)
        done, said, _ = await post(http, url, "triage_reverse", await csrf_of(http, url))
    assert done == 403 and "Only this channel&#39;s admins may reverse" in said, said
    refused = [e for e in await audit_events(held, "refused") if e.get("action") == "triage_reverse"]
    assert [(e["by"], e["surface"], e["approval"]) for e in refused] == [(BOB, "email", approval)], refused
    record = await store.approvals.get(approval)
    assert record is not None and record.pending and not record.triage_reversed, record

    # Carol (ADMIN_USERS) reverses it; her link stays hers to decide with, and people decide: she approves
    async with browser() as http:
        url = held.url + carol_path
        await signed_in(http, held.url, carol_path, person=CAROL)
        done, said, _ = await post(http, url, "triage_reverse", await csrf_of(http, url))
        assert done == 200 and "Reversed: the triage model" in said, said
        [entry] = await audit_events(held, "triage_reversed")
        assert (entry["by"], entry["surface"], entry["approval"]) == (CAROL, "email", approval), entry
        assert REVERSE not in await page_of(http, url)  # reversed: nothing left to reverse
        done, said, _ = await post(http, url, "approved", await csrf_of(http, url))
        assert done == 200, said
    answer = await client.wait(approval)
    assert (answer["status"], answer["decided_by"]) == ("approved", CAROL), answer
