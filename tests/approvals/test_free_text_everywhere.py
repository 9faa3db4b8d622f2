"""Free text hidden everywhere it could leave the bot (#76), black box, as a user runs it: a `python -m bot` worker at
DEBUG with the local Slack, a write-once archive on an S3 bucket under Object Lock (seaweedfs) filled every few
seconds, and a program's webhook receiver. An `/agent` task with a card number (its header is a top-level post the
whole channel sees), a reviewer's revise note (a card with its expiry and CVV) and reject reason (an IBAN in lower
case) on its drafts; a program's asks whose titles restate a card number in six spellings (spaces, dashes, none, dots,
no-break spaces, fullwidth digits), an IBAN and a live key, with a `writeOnly` value and a card number as an object key
in its arguments; a second ask rejected with a reason quoting that value and the key; a third whose arguments fail
its schema on a `writeOnly` password (a 400); a fourth with nothing hidden that a reviewer revises, writing a card
number into its arguments and a note with a CVC and an expiry. None of the values appears in any call the local Slack
received, the worker's log, any Redis key (every key SCANned, every type dumped, packed texts unpacked), the audit log,
`audit export`, any version of any archive object or any webhook body; the `requested` entries carry each title as
reviewers saw it; the program's GET gets the reviewer's edit whole. About 20 s."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.core.key_files import ensure_keys_file
from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import ALICE, BOB, SALES, find_header
from tests.support.archive import Seaweed, start_seaweed
from tests.support.cli import bot_command
from tests.support.cluster import DEMO, Cluster, WorkerProcess, run_status
from tests.support.flow import start_run
from tests.support.hitl import click, nth_card, open_modal, reject, until
from tests.support.leaks import Receiver, bucket_dump, leaks, redis_dump, webhook_receiver

pytestmark = pytest.mark.slow  # a worker process

CARDS = ("4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "4111.1111.1111.1111",
         "4111\u00a01111\u00a01111\u00a01111", "\uff14\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 "
         "\uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11")
KEY_CARD = "5555555555554444"  # a card number as an object key of the arguments
EDIT_CARD = "3782 822463 10005"  # a card number a reviewer writes into a call with nothing hidden
WEAK = "tulip-9"  # a writeOnly password too short for its schema
IBAN = "GB82 WEST 1234 5698 7654 32"
LIVE_KEY = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
PASSWORD = "orchid-lantern-7391"  # a writeOnly value: no detector knows it
IBAN_LOWER = "gb82-west-1234-5698-7654-32"
SECRETS = (*CARDS, IBAN, IBAN.replace(" ", ""), IBAN_LOWER, LIVE_KEY, PASSWORD, "exp 12/29", "cvv 737", KEY_CARD,
           EDIT_CARD, WEAK, "11/28", "CVC: 4321")
SCHEMA = {"type": "object", "properties": {"password": {"type": "string", "writeOnly": True}}}
STRICT = {"type": "object", "properties": {"password": {"type": "string", "writeOnly": True, "minLength": 12}}}


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seaweed]:
    yield from start_seaweed(tmp_path_factory.mktemp("weed"))


@pytest.fixture
def bucket(seaweed: Seaweed) -> str:
    """A bucket under Object Lock, the worker's archive."""
    return seaweed.bucket("free-text-archive", locked=True)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with webhook_receiver() as got:
        yield got


@pytest.fixture
async def worker(
    slack: SlackStandIn, redis_url: str, tmp_path: Path, seaweed: Seaweed, bucket: str
) -> AsyncIterator[WorkerProcess]:
    """One `python -m bot` at DEBUG on the demo model, signing checkpoints each second and archiving them to the S3
    `bucket` (each object locked a day)."""
    keys = tmp_path / "keys.json"
    ensure_keys_file(keys)
    model = tmp_path / "model.json"
    model.write_text(json.dumps(DEMO))
    cluster = Cluster(slack, redis_url, tmp_path, model)
    started = await cluster.start(LOG_LEVEL="DEBUG", API_ALLOW_PRIVATE_CALLBACKS="1", SIGNING_KEYS_FILE=str(keys),
                                  AUDIT_CHECKPOINT_INTERVAL="1s", AUDIT_ARCHIVE=f"s3://{bucket}/audit",
                                  AUDIT_ARCHIVE_RETAIN="1d", **seaweed.env())
    slack.events_url = started.events
    yield started
    cluster.stop_all()


async def ask(worker: WorkerProcess, key: str, body: dict[str, Any], *, status: int = 201) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.post(
        worker.url + "/api/v1/approvals", json={"requester": ALICE, **body}, headers={"Authorization": f"Bearer {key}"}
    ) as response:
        answer: dict[str, Any] = await response.json()
        assert response.status == status, answer
        return answer


async def got(worker: WorkerProcess, key: str, approval_id: str) -> dict[str, Any]:
    """The program's GET of its approval."""
    async with aiohttp.ClientSession() as session, session.get(
        f"{worker.url}/api/v1/approvals/{approval_id}", headers={"Authorization": f"Bearer {key}"}
    ) as response:
        answer: dict[str, Any] = await response.json()
        assert response.status == 200, answer
        return answer


async def archived(store: Store, *, within: float = 60) -> None:
    """Until the archive holds every audit entry written so far."""
    last = int((await store.audit.entries())[-1]["seq"])
    deadline = time.monotonic() + within
    while (await store.audit.archived_through() or 0) < last:
        assert time.monotonic() < deadline, f"archived through {await store.audit.archived_through()}, not {last}"
        await asyncio.sleep(0.1)


async def test_no_free_text_value_leaves_the_bot_in_the_clear(
    worker: WorkerProcess, slack: SlackStandIn, store: Store, redis_url: str, receiver: Receiver, seaweed: Seaweed,
    bucket: str,
) -> None:
    # 1. an /agent task with a card number: its header, a Revise note, a Reject reason on its drafts
    run_id = await start_run(slack, task=f"Write to the vendor: refund card {CARDS[0]} today")
    header = await until(lambda: find_header(slack, SALES, run_id), within=20, what="the run's header")
    assert "refund card ending 1111 today" in json.dumps(header, ensure_ascii=False)
    view = await open_modal(slack, await nth_card(slack, 1, within=30), user=BOB)
    revised = await slack.submit_view(user=BOB, view_id=view["id"], values={
        "feedback": {"feedback_input": f"say card {CARDS[1]} exp 12/29, cvv 737 and IBAN {IBAN}"}})
    assert revised.status == 200, revised.body
    rejected = await reject(slack, await nth_card(slack, 2, within=30), user=BOB,
                            reason=f"not to {IBAN_LOWER}, not with {LIVE_KEY}")
    assert rejected.status == 200, rejected.body
    await run_status(store, run_id, "rejected")

    # 2. a program's asks: the title restates a card in six spellings, an IBAN, a live key; a writeOnly value and a
    # card as an object key in the arguments
    made = await store.api_keys.create("refunds", (SALES,), by="test")
    assert made is not None
    title = f"Refund {' / '.join(CARDS[:3])} to {IBAN}, key {LIVE_KEY}"
    tool = {"name": "refund", "arguments": {"order": "A-77", "card": CARDS[2], "password": PASSWORD,
                                            "cards": {KEY_CARD: "primary"}}, "schema": SCHEMA}
    first = await ask(worker, made.key, {"kind": "tool", "title": title, "tool": tool, "callback_url": receiver.url})
    await click(slack, await nth_card(slack, 3, within=30), "approval_approve", user=BOB)
    second = await ask(worker, made.key, {"kind": "tool", "title": f"Again {' / '.join(CARDS[3:])} with {PASSWORD}",
                                          "tool": tool,
                                          "callback_url": receiver.url})
    assert (await reject(slack, await nth_card(slack, 4, within=30), user=BOB,
                         reason=f"{PASSWORD} and {LIVE_KEY} are not for a card {CARDS[1]}")).status == 200
    # a schema failure on a writeOnly password: a 400 naming the path and the rule, never the value
    refused = await ask(worker, made.key, {"kind": "tool", "title": "Set the password", "tool": {
        "name": "set_password", "arguments": {"password": WEAK}, "schema": STRICT}}, status=400)
    assert "password" in json.dumps(refused) and not leaks(json.dumps(refused, ensure_ascii=False), SECRETS)
    # a call with nothing hidden, revised: the reviewer writes a card into it, and a note with a CVC and an expiry
    plain = await ask(worker, made.key, {"kind": "tool", "title": "Refund A-78", "callback_url": receiver.url, "tool": {
        "name": "refund", "arguments": {"order": "A-78", "note": "duplicate"}}})
    view = await open_modal(slack, await nth_card(slack, 5, within=30), user=BOB)
    fields = {b["label"]["text"].split(" (")[0]: b for b in view["view"]["blocks"] if b["type"] == "input"}
    edited = await slack.submit_view(user=BOB, view_id=view["id"], values={
        fields["note"]["block_id"]: {"arg_input": f"refund to {EDIT_CARD}"},
        "feedback": {"feedback_input": f"card {EDIT_CARD} exp 11/28, CVC: 4321"}})
    assert edited.status == 200 and edited.json is None, edited.body
    await until(lambda: len(receiver.bodies) >= 3, within=30, what="three webhooks")
    assert {json.loads(body)["status"] for body in receiver.bodies} == {"approved", "rejected", "revised"}
    whole = await got(worker, made.key, plain["id"])  # the program's own edit, whole
    assert whole["edited"] is True and whole["arguments"] == {"order": "A-78", "note": f"refund to {EDIT_CARD}"}

    # the `requested` entries carry each title as reviewers saw it, and `audit export` shows them
    titles = {e["approval"]: e.get("title", "") for e in await store.audit.entries() if e["event"] == "requested"}
    assert titles[first["id"]] == ("Refund card ending 1111 / card ending 1111 / card ending 1111 to"
                                   " IBAN GB82 … 5432, key Stripe secret key (hidden)")
    assert titles[second["id"]] == "Again card ending 1111 / card ending 1111 / card ending 1111 with sensitive field" \
                                   " (hidden)"
    exported = await bot_command("audit", "export", "--format", "csv",
                                 environ={"REDIS_URL": redis_url, "SLACK_BOT_TOKEN": "", "SLACK_API_URL": ""})
    assert exported.returncode == 0, exported.stderr
    rows = {row["approval"]: row for row in csv.DictReader(io.StringIO(exported.stdout)) if row["event"] == "requested"}
    assert rows[first["id"]]["title"] == titles[first["id"]]

    # 3. nowhere in the clear
    await archived(store)
    where = {
        "Slack": "\n".join(json.dumps(call.args, ensure_ascii=False) for call in slack.calls()),
        "the worker's log": worker.log.read_text(),
        "Redis": await redis_dump(redis_url),
        "the audit log": json.dumps(await store.audit.entries(), ensure_ascii=False),
        "audit export": exported.stdout + exported.stderr,
        "the archive": await asyncio.to_thread(bucket_dump, seaweed.client(), bucket),
        "webhooks": "\n".join(body.decode() for body in receiver.bodies),
    }
    assert "DEBUG" in where["the worker's log"] and "entries.jsonl.gz" in where["the archive"]
    assert "card ending 1111" in where["the archive"] and "COMPLIANCE" in where["the archive"]  # (locked objects)
    assert {name: leaks(text, SECRETS) for name, text in where.items()} == {name: [] for name in where}
