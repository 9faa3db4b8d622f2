"""Who may add a passkey (#63.3, #63.5): a Slack session alone sets up a person's first passkey; once they have one,
another is stored only through a link one of theirs confirmed on the page, checked in the step that stores it (a
page that skips the confirmation, or a link whose options were given before the first passkey existed, stores
nothing). The person is told by direct message at once of every passkey added or removed. A new passkey confirms
votes only after the operator's cooling-off (STEP_UP_NEW_PASSKEY_COOLOFF). At most 10 passkeys, counted in the same
step: 12 enrolments at once store 10. Real worker over HTTP, redis-server, the Slack stand-in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from bot.core.passkeys import Passkey, credential_digest
from bot.core.settings import Settings, SettingsError
from bot.devslack.server import SlackStandIn
from bot.stepup.enrolment import CONFIRM_FIRST, MAX_PASSKEYS
from bot.store import Store
from tests.conftest import ALICE, BOB, CAROL, Worker, bot_env
from tests.support.passkeys import Authenticator
from tests.support.signing import signing_worker
from tests.support.stepup import ORIGIN, approve, asked, confirm, enrol, post, vote_path, vouch


async def link(worker: Worker, user: str = ALICE) -> str:
    return (await worker.services.stepup.link(user)).removeprefix(ORIGIN)


def dms(slack: SlackStandIn, user: str) -> list[str]:
    return [str(m.get("text") or "") for m in slack.messages(slack.dm_channel(user))]


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_a_second_passkey_needs_one_the_person_has(stepup: Worker, slack: SlackStandIn,
                                                         http: aiohttp.ClientSession) -> None:
    store = stepup.services.store
    alices = Authenticator()
    late = await link(stepup)  # a link whose options are given while alice has no passkey yet
    status, late_options = await post(http, stepup.url + late + "/options", {})
    assert status == 200
    first = await enrol(stepup, http, ALICE, alices)  # her first: the Slack session alone sets it up

    # someone with only her Slack session: the page asks for one of her passkeys first, and nothing skips it
    path = await link(stepup)
    async with http.get(stepup.url + path) as page:
        text = await page.text()
        assert page.status == 200 and "Confirm with a passkey I have" in text and '<form id="enrol" hidden>' in text
    status, said = await post(http, stepup.url + path + "/options", {})
    assert status == 403 and said["error"] == CONFIRM_FIRST
    intruder = Authenticator()
    status, said = await post(http, stepup.url + late, {"name": "mine now",
                                                        "credential": intruder.register(late_options, origin=ORIGIN)})
    assert status == 403 and said["error"] == CONFIRM_FIRST  # refused in the step that stores it
    bobs = Authenticator()
    await enrol(stepup, http, BOB, bobs)
    for wrong in ({"credential_id": await enrol(stepup, http, BOB, bobs)},  # bob's passkey is not hers
                  {"challenge": "b3RoZXI"}, {"origin": "https://evil.example"}):
        status, said = await vouch(http, stepup, path, bobs if "credential_id" in wrong else alices, **wrong)
        assert status == 400 and "nothing was added" in said["error"], (wrong, said)
    assert [p.credential_id for p in await store.passkeys.of(ALICE)] == [first]
    refused = [e for e in await store.audit.entries() if e["event"] == "refused" and e.get("by") == ALICE
               and not e["reason"].startswith("sign-in:")]  # the test's one client signs in as bob, then alice again
    assert [e["reason"] for e in refused][:1] == ["unconfirmed"] and len(refused) == 4

    # her own passkey confirms the link: then it adds one, and the audit says which confirmed it
    status, said = await vouch(http, stepup, path, alices)
    assert status == 200 and "Confirmed with your passkey “laptop”" in said["message"]
    status, options = await post(http, stepup.url + path + "/options", {})
    assert status == 200, options
    made = alices.register(options, origin=ORIGIN)
    status, said = await post(http, stepup.url + path, {"name": "phone", "credential": made})
    assert status == 200, said
    assert [p.name for p in await store.passkeys.of(ALICE)] == ["laptop", "phone"]
    entries = await store.audit.entries()
    [confirmed] = [e for e in entries if e["event"] == "passkey_confirmed" and e["by"] == ALICE]
    assert confirmed["by"] == ALICE and confirmed["passkey"] == credential_digest(first)
    assert [e.get("confirmed_by") for e in entries if e["event"] == "passkey_enrolled" and e["by"] == ALICE] == [
        None, credential_digest(first)]


async def test_every_passkey_added_or_removed_is_told_at_once(stepup: Worker, slack: SlackStandIn,
                                                              http: aiohttp.ClientSession) -> None:
    alices = Authenticator()
    first = await enrol(stepup, http, ALICE, alices)
    told = await slack.wait_for(lambda: dms(slack, ALICE) or None, description="alice told of her passkey")
    assert "A passkey was added to your account: *laptop*" in told[0] and "If it was not you" in told[0]
    assert "It can confirm your votes from" not in told[0]  # no cooling-off by default
    await enrol(stepup, http, ALICE, alices)
    await slack.wait_for(lambda: len(dms(slack, ALICE)) == 2, description="alice told of her second passkey")

    assert await stepup.services.stepup.remove(ALICE, first) is not None
    told = await slack.wait_for(lambda: dms(slack, ALICE)[2:] or None, description="alice told of the removal")
    assert "You removed your passkey *laptop*" in told[0]
    await stepup.services.stepup.revoke(ALICE, by=CAROL, channel="C0SALES")
    told = await slack.wait_for(lambda: dms(slack, ALICE)[3:] or None, description="alice told of the revocation")
    assert f"<@{CAROL}> (an admin) revoked your passkey *laptop*" in told[0]


async def test_a_passkey_name_in_a_direct_message_is_inert(stepup: Worker, slack: SlackStandIn,
                                                            http: aiohttp.ClientSession) -> None:
    path = await link(stepup)
    status, options = await post(http, stepup.url + path + "/options", {})
    made = Authenticator().register(options, origin=ORIGIN)
    status, said = await post(http, stepup.url + path, {"name": "<!channel> <@U0BOB>", "credential": made})
    assert status == 200, said
    told = await slack.wait_for(lambda: dms(slack, ALICE) or None, description="alice told")
    assert "&lt;!channel&gt; &lt;@U0BOB&gt;" in told[0] and "<!channel>" not in told[0]


@pytest.fixture
async def cooling(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> AsyncIterator[Worker]:
    worker = await signing_worker(slack, redis_url, tmp_path / "keys.json", STEP_UP_URL=ORIGIN,
                                  ADMIN_USERS="U0CAROL", STEP_UP_NEW_PASSKEY_COOLOFF="1h")
    yield worker
    await worker.stop()


async def test_a_new_passkey_confirms_votes_only_after_the_cooling_off(cooling: Worker, slack: SlackStandIn,
                                                                        http: aiohttp.ClientSession) -> None:
    store = cooling.services.store
    bobs = Authenticator()
    credential = await enrol(cooling, http, BOB, bobs)
    told = await slack.wait_for(lambda: dms(slack, BOB) or None, description="bob told of his passkey")
    assert "It can confirm your votes from" in told[0]
    _, approval_id, card = await asked(cooling, slack)
    path = vote_path(await approve(slack, BOB, card))
    status, said = await confirm(http, cooling, path, bobs)
    assert status == 403 and "confirms votes only 1h after it was added" in said["error"], said
    record = await store.approvals.get(approval_id)
    assert record is not None and record.pending and record.votes == ""
    refused = [e for e in await store.audit.entries() if e["event"] == "refused" and e.get("approval") == approval_id]
    assert len(refused) == 1 and refused[0]["reason"].startswith("step-up: This passkey was added ")

    # an hour later (the passkey's date moved back, as time would), the same link confirms the vote
    [kept] = await store.passkeys.of(BOB)
    older = replace(kept, created_at=kept.created_at - 3601)
    await cooling.services.redis.hset(store.keys.passkeys(BOB), credential, older.to_json())
    status, said = await confirm(http, cooling, path, bobs)
    assert status == 200 and said["status"] == "ok", said


def test_the_cooling_off_is_a_duration_and_off_by_default(slack: SlackStandIn) -> None:
    env = bot_env(slack=slack, redis_url="redis://127.0.0.1:1/0", model_config=None)
    assert Settings.from_env(env).step_up_new_passkey_cooloff == 0
    for given, seconds in (("0", 0), ("90", 90), ("1h", 3600), ("2d", 172800)):
        assert Settings.from_env({**env, "STEP_UP_NEW_PASSKEY_COOLOFF": given}).step_up_new_passkey_cooloff == seconds
    for wrong in ("-1", "soon", "31d"):
        with pytest.raises(SettingsError) as refused:
            Settings.from_env({**env, "STEP_UP_NEW_PASSKEY_COOLOFF": wrong})
        assert "STEP_UP_NEW_PASSKEY_COOLOFF" in str(refused.value)


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_twelve_enrolments_at_once_store_ten(stepup: Worker, http: aiohttp.ClientSession) -> None:
    """Each of 12 pages confirmed by alice's passkey and given its options, then all finished at once: the count
    is checked where the passkey is stored, so exactly 10 are, and the rest are told why."""
    alices = Authenticator()
    await enrol(stepup, http, ALICE, alices)
    paths = [await link(stepup) for _ in range(12)]
    answers = []
    for path in paths:
        status, said = await vouch(http, stepup, path, alices)
        assert status == 200, said
        status, options = await post(http, stepup.url + path + "/options", {})
        answers.append({"name": "key", "credential": Authenticator().register(options, origin=ORIGIN)})
    finishing = (post(http, stepup.url + path, answer) for path, answer in zip(paths, answers, strict=True))
    results = await asyncio.gather(*finishing)
    assert sorted(status for status, _ in results) == [200] * (MAX_PASSKEYS - 1) + [400] * 3
    assert all("10 passkeys already" in said["error"] for status, said in results if status == 400)
    assert len(await stepup.services.store.passkeys.of(ALICE)) == MAX_PASSKEYS


async def test_the_store_counts_concurrent_enrolments_in_one_step(store: Store) -> None:
    user = "U0TWELVE"
    await store.passkeys.remove_all(user)
    links = []
    for _ in range(12):
        found = await store.passkeys.token(await store.passkeys.issue_token(user))
        assert found is not None
        vouched = await store.passkeys.vouch(found, "a passkey's digest")
        assert vouched is not None
        links.append(vouched)
    made = [Passkey(f"cred{i:04d}-AAAAAAAAAAAAAAAA", "pk", 0, "key", 1_700_000_000.0 + i) for i in range(12)]
    enrolling = (store.passkeys.enrol(found, p, most=10) for found, p in zip(links, made, strict=True))
    results = await asyncio.gather(*enrolling)
    assert sorted(results) == ["full"] * 2 + ["stored"] * 10
    assert len(await store.passkeys.of(user)) == 10
    # and a link nobody confirmed stores nothing once the person has a passkey
    found = await store.passkeys.token(await store.passkeys.issue_token(user))
    assert found is not None
    await store.passkeys.remove_all(user)
    assert await store.passkeys.enrol(found, made[0], most=10) == "stored"
    found = await store.passkeys.token(await store.passkeys.issue_token(user))
    assert found is not None and await store.passkeys.enrol(found, made[1], most=10) == "unconfirmed"
    assert len(await store.passkeys.of(user)) == 1
