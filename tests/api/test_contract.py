"""The API's contract is its models (bot/api/requests.py, bot/api/answers.py): the OpenAPI document is made of them,
a body a model refuses is a 400 in the documented shape naming the field in the project's words, and every answer a
route gives, its refusals too, is documented for that route with a body its schema holds (schemathesis-style,
against a real worker: no key, a wrong key, bodies malformed, refused, nested 1,000 deep or too large, unknown ids,
a wrong query, and the answers of asking, reading, using and withdrawing)."""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator
from pydantic import BaseModel

from bot.api.answers import Approval
from bot.api.openapi import REQUESTS, document
from bot.api.requests import MAX_TITLE, AllowedTool, Must, ToolCall, Workflow, field_metadata
from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, Worker
from tests.support.api import Client, new_key, tool_ask
from tests.support.hitl import click, nth_card

NO_SUCH = "a-nosuchapprovalnosuchappr"


def test_the_documents_schemas_are_the_models() -> None:
    described = document()["components"]["schemas"]
    for model in (*REQUESTS, Approval):
        schema = described[model.__name__]
        names = {info.alias or name for name, info in model.model_fields.items()}
        assert set(schema["properties"]) == names, model
        assert schema.get("additionalProperties") is (False if model in REQUESTS else None), model
        assert set(schema.get("required", [])) == required(model), model
    assert described["Ask"]["properties"]["title"]["maxLength"] == MAX_TITLE
    assert {"who", "refusal"} <= set(described["Approval"]["required"])


def test_every_field_a_program_sends_says_what_it_must_be() -> None:
    """Each request field has its refusal's words (`Must`): pydantic's own never reach a program."""
    for model in (*REQUESTS, ToolCall, Workflow, AllowedTool):
        for name, info in model.model_fields.items():
            assert any(isinstance(m, Must) for m in field_metadata(info)), (model.__name__, name)


def required(model: type[BaseModel]) -> set[str]:
    return {info.alias or name for name, info in model.model_fields.items() if info.is_required()}


def check(described: dict[str, Any], method: str, path: str, status: int, body: Any) -> None:
    """`status` is documented for `method path`, and `body` holds to its schema."""
    responses = described["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, (method, path, status, body)
    response = responses[str(status)]
    if "$ref" in response:  # an error answer, written once (components.responses)
        response = described["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    if schema is not None:
        Draft202012Validator({**schema, "components": described["components"]}).validate(body)
    if isinstance(body, dict) and {"id", "status"} <= set(body):  # an approval: each of its fields documented
        assert set(body) <= {*described["components"]["schemas"]["Approval"]["properties"], "used"}, body


async def test_a_body_a_model_refuses_is_the_documented_400_in_our_words(api: Worker) -> None:
    client = Client(api, (await new_key(api)).key)
    status, answer, _ = await client.call("POST", "/api/v1/approvals", body=tool_ask(title=" ", timeout="soon"))
    check(document(), "POST", "/api/v1/approvals", status, answer)
    assert answer["error"] == {"code": "invalid_request", "message": "title must be a non-empty string",
                               "field": "title"}  # (pydantic's own words never reach a program)
    status, answer, _ = await client.call("POST", "/api/v1/approvals", body=tool_ask(timeout=True))
    assert (status, answer["error"]["field"]) == (400, "timeout") and "whole number" in answer["error"]["message"]


async def test_every_answer_of_every_route_is_documented(api: Worker, slack: SlackStandIn) -> None:
    described = document()
    client = Client(api, (await new_key(api, per_minute=5000)).key)
    status, asked = await client.ask(tool_ask())
    check(described, "POST", "/api/v1/approvals", status, asked)
    seen = {status}
    status, answer, _ = await client.call("POST", f"/api/v1/approvals/{asked['id']}/use", body={"token": "early-one"})
    check(described, "POST", "/api/v1/approvals/{id}/use", status, answer)
    seen.add(status)
    await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
    decided = await client.wait(asked["id"])
    check(described, "GET", "/api/v1/approvals/{id}", 200, decided)
    name = decided.get("decided_by_name", "")
    assert decided["who"] == (f"@{name}" if name else BOB)  # the bot's words: the name once the worker knows it
    assert decided["refusal"] is None
    for token in ("process-one", "process-two"):
        status, used, _ = await client.call("POST", f"/api/v1/approvals/{asked['id']}/use", body={"token": token})
        check(described, "POST", "/api/v1/approvals/{id}/use", status, used)
    assert used["used"] is False and used["refusal"] == (f"Not run: approval {asked['id']} was used already (the call"
                                                         " may have run); call again to be asked again.")
    deep = ("[" * 1000 + "]" * 1000).encode()
    bodies: list[tuple[bytes | None, dict[str, str]]] = [
        (None, {}), (b"{not json", {}), (deep, {}), (b"\xff", {}), (json.dumps({"surprise": 1}).encode(), {}),
        (b"{}", {"Content-Type": "text/plain"}), (b"{}", {"Idempotency-Key": "no spaces"}),
        (b"[" + b"1," * 140_000 + b"1]", {}),
    ]
    for path, item in described["paths"].items():
        for method in item:
            for approval_id in (asked["id"], NO_SUCH, "not-an-id"):
                url = path.replace("{id}", approval_id)
                for key in (None, "", "aak_" + "x" * 43):
                    status, answer, _ = await client.call(method.upper(), url, key=key)
                    check(described, method, path, status, answer)
                    seen.add(status)
                for raw, headers in bodies if method == "post" else [(None, {})]:
                    query = "?wait=61" if method == "get" else ""
                    status, answer, _ = await client.call(method.upper(), url + query, raw=raw, headers=headers)
                    check(described, method, path, status, answer)
                    seen.add(status)
    assert seen >= {200, 201, 400, 401, 404, 409, 413}, seen


async def test_slack_refusing_the_card_is_the_documented_502(api: Worker, slack: SlackStandIn) -> None:
    """Slack refuses the card (an error it does not retry): the ask is 502 `slack_refused`, as documented."""
    client = Client(api, (await new_key(api)).key)
    slack.fail(method="chat.postMessage", status=200, error="channel_not_found", count=5)
    status, answer, _ = await client.call("POST", "/api/v1/approvals", body=tool_ask())
    assert status == 502 and answer["error"]["code"] == "slack_refused", answer
    check(document(), "POST", "/api/v1/approvals", status, answer)


def test_every_status_the_api_raises_is_documented() -> None:
    """Each `ApiError(<status>, …)` of bot/api is among the document's error answers (a refusal added to a route
    without its line in the document fails here; the live checks above say which route gives it)."""
    import re
    from pathlib import Path

    raised = {int(code) for path in Path(__file__).resolve().parents[2].joinpath("bot", "api").glob("*.py")
              for code in re.findall(r"ApiError\(\s*(\d{3})", path.read_text())}
    assert raised and raised <= {int(code) for code in document()["components"]["responses"]}, raised
