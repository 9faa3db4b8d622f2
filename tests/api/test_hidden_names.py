"""A hidden value used as a name (#76 item 3) and a schema failure on hidden values (#76 item 4), through the real
API of a worker with a real redis-server: a card number as an object's key is named in every path by its
placeholder (`cards.<card ending 5100>`), never by its digits: in the API's answer, the approval's record in Redis
(every key SCANned), the `requested` audit entry and the webhook's body. An ask whose arguments fail the tool's
schema is refused with a 400 naming each path and rule, logged at WARNING the same way: no value of the arguments in
either, a `writeOnly` one or a card number as a name included, and nothing stored."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.devslack.server import SlackStandIn
from tests.conftest import ALICE, BOB, Worker
from tests.support.api import Client, new_key
from tests.support.hitl import audit_events, nth_card, reject, until
from tests.support.leaks import Receiver, redis_dump, webhook_receiver

KEY_CARD = "5105105105105100"  # a card number used as a name
NESTED_CARD = "4111 1111 1111 1111"  # another, a name holding an object
ARGUMENTS = {"order": "C-9", "cards": {KEY_CARD: "primary", NESTED_CARD: {"cvv": "737", "holder": "Ada"}},
             "charge": {"number": 4.111111111111111e15, "exp": "12/29"}}  # a card as a JSON float, its expiry
# the values, as their digits may be written anywhere
SECRETS = (KEY_CARD, "5105 1051 0510 5100", NESTED_CARD, NESTED_CARD.replace(" ", ""), '"737"', "cvv: 737",
           "4.111111111111111e", "12/29")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with webhook_receiver() as got:
        yield got


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


async def test_a_card_number_as_a_name_is_named_by_its_placeholder_everywhere_a_path_is_kept(
    api: Worker, slack: SlackStandIn, redis_url: str, receiver: Receiver
) -> None:
    client = Client(api, (await new_key(api, "refunds")).key)
    status, answer = await client.ask({"kind": "tool", "title": "Refund C-9", "requester": ALICE,
                                       "callback_url": receiver.url,
                                       "tool": {"name": "refund", "arguments": ARGUMENTS}})
    assert status == 201, answer
    assert answer["arguments"] == ARGUMENTS  # the program's own answer: its arguments whole
    paths = [item["path"] for item in answer["hidden"]]
    assert sorted(paths) == ["cards.<card ending 1111>", "cards.<card ending 1111>.cvv", "cards.<card ending 5100>",
                             "charge.exp", "charge.number"]
    # the approval's record: its list of what was hidden names each by its placeholder
    stored = await api.services.store.approvals.get(answer["id"])
    assert stored is not None
    assert [item["path"] for item in stored.hidden_items] == paths
    # the `requested` audit entry (what `audit export`, the archive and evidence read)
    requested = [e for e in await audit_events(api, "requested") if e.get("approval") == answer["id"]]
    assert len(requested) == 1
    assert [item["path"] for item in json.loads(requested[0]["hidden"])] == paths
    assert not leaks(json.dumps(requested)), requested
    # the webhook of its decision
    await reject(slack, await nth_card(slack, 1), user=BOB, reason="not this one")
    await until(lambda: receiver.bodies, within=20, what="the webhook")
    sent = json.loads(receiver.bodies[0])
    assert [item["path"] for item in sent["hidden"]] == paths
    assert not leaks(receiver.bodies[0].decode()), sent
    # and nowhere in Redis, every key and value looked at
    dumped = await redis_dump(redis_url)
    assert "cards.<card ending 5100>" in dumped
    assert not leaks(dumped)


FAILING_SCHEMA = {
    "type": "object",
    "properties": {
        "password": {"type": "string", "writeOnly": True, "minLength": 40},
        "pin": {"type": "string", "x-sensitive": True, "pattern": "^[0-9]{6}$"},
        "card": {"type": "integer"},
        "level": {"enum": ["low", "high"]},
    },
    "required": ["password", "reason"],
    "additionalProperties": False,
}
FAILING = {"password": "orchid-7391-lantern", "pin": "tulip-88", "card": "4111 1111 1111 1111",
           "level": "cobalt-secret-level", KEY_CARD: "primary"}


async def test_a_schema_failure_names_each_path_and_rule_never_a_value(
    api: Worker, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    client = Client(api, (await new_key(api, "refunds")).key)
    status, answer = await client.ask({"kind": "tool", "title": "Set the password", "requester": ALICE,
                                       "tool": {"name": "set_password", "arguments": FAILING,
                                                "schema": FAILING_SCHEMA}})
    assert status == 400 and answer["error"]["field"] == "tool.arguments", answer
    message: str = answer["error"]["message"]
    for said in ("$.password: is shorter than 40 characters (minLength)",
                 "$.pin: does not match '^[0-9]{6}$' (pattern)",
                 "$.card: is not of type 'integer' (type)",
                 "$: lacks 'reason' (required)",
                 "$: has names the schema does not allow: '<card ending 5100>' (additionalProperties)"):
        assert said in message, message
    logged = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    refused = [line for line in logged if "tool.arguments fail tool.schema" in line]
    assert len(refused) == 1 and "$.password: is shorter than 40 characters" in refused[0], logged
    values = [value for value in FAILING.values() if value != "primary"] + [KEY_CARD, "4111111111111111"]
    everything: Any = [json.dumps(answer), *(record.getMessage() for record in caplog.records)]
    assert [value for value in values if any(value in text for text in everything)] == []
    assert [value for value in values if value in await redis_dump(redis_url)] == []  # nothing stored
