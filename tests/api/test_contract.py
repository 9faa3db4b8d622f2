"""The API's contract is its models (bot/api/requests.py, bot/api/answers.py): the OpenAPI document is made of them,
a body a model refuses is a 400 in the documented shape naming the field in the project's words, and every answer a
route gives, its refusals too, is documented for that route with a body its schema holds (schemathesis-style,
against a real worker: no key, a wrong key, bodies malformed, refused, nested 1,000 deep or too large, unknown ids,
a wrong query, and the answers of asking, reading, using and withdrawing). One contract at both ends: the routes the
server mounts are the document's (`openapi.ROUTES`), and the Python client's answer models hold every field of the
document's answer schemas, named and typed as there (the TypeScript types are generated from it)."""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from typing import Any

import pytest
from agent_approvals import client as agent_client
from aiohttp import web
from jsonschema import Draft202012Validator
from pydantic import BaseModel

from bot.api import openapi
from bot.api.answers import Approval
from bot.api.openapi import REQUESTS, document
from bot.api.requests import MAX_TITLE, AllowedTool, Must, ToolCall, Workflow, field_metadata
from bot.api.routes import add_routes
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


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
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


def mounted(app: web.Application) -> set[tuple[str, str]]:
    """The API's routes `app` serves: (method, path)."""
    return {(route.method.lower(), route.resource.canonical) for route in app.router.routes()
            if route.resource is not None and route.resource.canonical.startswith(
                ("/api/", "/access/", "/.well-known/authzen"))}


def described(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method, path) for path, item in document["paths"].items() for method in item}


async def test_the_routes_are_the_documents_and_one_without_the_other_is_refused(
    api: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """#78.6: the paths and methods are written once (`openapi.ROUTES`): the server mounts them and the document is
    made of them. A route mounted beside them differs from the document (and this check names it); a route the
    document gains without a handler, or a handler whose route it lost, stops the server from starting."""
    assert mounted(api.runner.app) == described(document())
    app = web.Application()
    add_routes(app, api.services.api)
    assert mounted(app) == described(document()) and len(openapi.ROUTES) == len(described(document()))

    async def extra(request: web.Request) -> web.Response:
        return web.json_response({})

    app.router.add_get("/api/v1/extra", extra, allow_head=False)  # a route added by hand, without its document entry
    assert mounted(app) - described(document()) == {("get", "/api/v1/extra")}
    entry = openapi.Route("get", "/api/v1/extra", {"operationId": "extra", "responses": {}})
    monkeypatch.setattr(openapi, "ROUTES", (*openapi.ROUTES, entry))  # a document entry without its route
    with pytest.raises(RuntimeError, match=re.escape("no handler for ['extra']")):
        add_routes(web.Application(), api.services.api)
    monkeypatch.setattr(openapi, "ROUTES", tuple(r for r in openapi.ROUTES if r.operation_id not in ("ask", "extra")))
    with pytest.raises(RuntimeError, match=re.escape("no route in the document for ['ask']")):
        add_routes(web.Application(), api.services.api)


CLIENT_MODELS = {"Approval": agent_client.Approval, "AllowedCall": agent_client.AllowedCall}
JSON_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number", dict: "object", list: "array",
              tuple: "array", type(None): "null"}


def python_types(hint: Any) -> set[str]:
    """The JSON types a client field's annotation takes."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return set().union(*(python_types(arg) for arg in typing.get_args(hint)))
    if typing.get_origin(hint) is typing.Literal:
        return {JSON_TYPES[type(value)] for value in typing.get_args(hint)}
    return {JSON_TYPES[typing.get_origin(hint) or hint]}


def schema_types(schema: dict[str, Any], schemas: dict[str, Any]) -> set[str]:
    """The JSON types a property of the document takes (its `$ref` followed, its `anyOf` joined)."""
    if "$ref" in schema:
        return schema_types(schemas[schema["$ref"].rsplit("/", 1)[1]], schemas)
    if "anyOf" in schema:
        return set().union(*(schema_types(one, schemas) for one in schema["anyOf"]))
    kind = schema["type"]
    return set(kind) if isinstance(kind, list) else {kind}


def drift(model: type, name: str, described: dict[str, Any]) -> list[str]:
    """How the client's answer model `model` differs from the document's schema `name`: a field the document has and
    the client lacks (or names otherwise), one the client has and the document does not, a type apart."""
    schemas = described["components"]["schemas"]
    properties, hints = schemas[name]["properties"], typing.get_type_hints(model)
    fields = [item.name for item in dataclasses.fields(model)]
    said = [f"{name}.{field}: the document's, not the client's" for field in properties if field not in fields]
    said += [f"{name}.{field}: the client's, not the document's" for field in fields if field not in properties]
    return said + [f"{name}.{field}: {sorted(python_types(hints[field]))} in the client, "
                   f"{sorted(schema_types(properties[field], schemas))} in the document"
                   for field in fields if field in properties
                   and python_types(hints[field]) != schema_types(properties[field], schemas)]


def copy_of(model: type, *, drop: tuple[str, ...] = (), rename: dict[str, str] | None = None,
            retype: dict[str, str] | None = None) -> type:
    """A copy of the dataclass `model`, a field dropped, renamed or retyped (a deliberate drift)."""
    made: list[tuple[str, Any, Any]] = []
    for item in dataclasses.fields(model):
        if item.name in drop:
            continue
        default = ({"default": item.default} if item.default is not dataclasses.MISSING else
                   {"default_factory": item.default_factory} if item.default_factory is not dataclasses.MISSING
                   else {})
        made.append(((rename or {}).get(item.name, item.name), (retype or {}).get(item.name, item.type),
                     dataclasses.field(**default)))
    copied = dataclasses.make_dataclass(model.__name__, made)
    copied.__module__ = model.__module__  # (its annotations read where the model's are)
    return copied


def test_the_python_clients_answer_models_are_the_documents() -> None:
    """#78.6: every field of the document's `Approval` and `AllowedCall` is the client's, named and typed alike; a
    client model that lacks, misnames or mistypes a field fails here, and so does a field the document gains."""
    for name, model in CLIENT_MODELS.items():
        assert drift(model, name, document()) == [], name
    approval = agent_client.Approval
    assert drift(copy_of(approval, drop=("who",)), "Approval", document()) == [
        "Approval.who: the document's, not the client's"]
    assert drift(copy_of(approval, rename={"decided_by": "decider"}), "Approval", document()) == [
        "Approval.decided_by: the document's, not the client's", "Approval.decider: the client's, not the document's"]
    assert drift(copy_of(approval, retype={"edited": "str"}), "Approval", document()) == [
        "Approval.edited: ['string'] in the client, ['boolean'] in the document"]
    grown = document()
    grown["components"]["schemas"]["AllowedCall"]["properties"]["note"] = {"type": "string"}
    assert drift(agent_client.AllowedCall, "AllowedCall", grown) == [
        "AllowedCall.note: the document's, not the client's"]
    shown = agent_client.Approval.from_json({"id": "a-1", "status": "approved", "who": "@bob", "refusal": None,
                                             "approved_by": ["U1"], "code": None, "hidden": []})
    assert shown.approved_by == ["U1"] and shown.who == "@bob"
