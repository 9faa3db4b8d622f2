"""Parked, made visible (issue 90, item 4): an approval whose timeout is `never` says on its approver's App Home that
it is parked and who holds it, and the weekly digest of parked approvals names it to its channel's admins, once
across two workers taking it at the same moment (the due member `parked`, taken in one Lua step)."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.devslack.server import SlackStandIn
from tests.conftest import ALICE, BOB, SALES, Worker, block_texts, bot_env, start_worker
from tests.support.api import Client, new_key, tool_ask
from tests.support.hitl import until
from tests.support.homes import home_text, open_homes, waiting_in_home

pytestmark = pytest.mark.slow  # two workers


def parked_dms(slack: SlackStandIn) -> list[str]:
    return [block_texts(m) for m in slack.messages(slack.dm_channel(ALICE)) if "Parked approvals" in block_texts(m)]


async def test_a_parked_approval_is_said_on_the_home_and_named_in_the_digest_once(
    api: Worker, slack: SlackStandIn, redis_url: str
) -> None:
    store = api.services.store
    await store.settings.set(SALES, "approvers", BOB, by="operator")
    await store.settings.set(SALES, "timeout", "0", by="operator")  # never: parked
    await store.settings.set(SALES, "admins", ALICE, by="operator")
    await open_homes(slack, BOB)
    status, answer = await Client(api, (await new_key(api)).key).ask(tool_ask())
    assert status == 201, answer
    approval = str(answer["id"])
    await until(lambda: approval in waiting_in_home(slack, BOB), within=15, what="the approval on Bob's Home")
    assert f"Never times out: parked, held by <@{BOB}> until decided" in home_text(slack, BOB)

    other = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None))
    try:
        await until(lambda: store.redis.zscore(store.keys.digest_due, "parked"), within=10, what="the digest due")
        assert await api.services.digest.sweep(now=time.time() + 3600) == 0  # not due yet: a week after the ask
        week = time.time() + 8 * 86400
        told = await asyncio.gather(api.services.digest.sweep(now=week), other.services.digest.sweep(now=week))
        assert sorted(told) == [0, 1]  # one worker took it, the other nothing
        [dm] = await until(lambda: parked_dms(slack), within=10, what="the parked digest in Alice's DM")
        assert approval in dm and f"held by <@{BOB}>" in dm and f"<#{SALES}>" in dm
        assert await other.services.digest.sweep(now=week + 60) == 0  # taken: due again a week on
        assert len(parked_dms(slack)) == 1
    finally:
        await other.stop()
