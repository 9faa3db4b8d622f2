"""Local stand-ins of the ticket systems (issue 91), aiohttp servers on loopback that speak the real APIs' shapes and
auth and refuse what they refuse: Jira Cloud's REST v3 (basic auth with the account's e-mail and API token; an issue
needs its project, issue type, summary and an ADF description; `search/jql` by label; comments; transitions) and
ServiceNow's Table API `change_request` (basic auth or an OAuth bearer token; a change needs a short_description;
closing one (state 3 or 4) needs close_code and close_notes). `down()` answers 503 to everything until `up()`;
`hold_create()` keeps a create's answer (the issue made) until `release()`: a worker killed in between."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

JIRA_EMAIL = "bot@example.com"
JIRA_TOKEN = "jira-api-token-not-a-real-one"
JIRA_PROJECT = "CHG"
SN_USER = "approvals.integration"
SN_PASSWORD = "sn-password-not-a-real-one"
SN_TOKEN = "sn-oauth-token-not-a-real-one"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def adf_problem(doc: Any) -> str:
    """Why `doc` is not an ADF document Jira takes ("" when it is)."""
    if not isinstance(doc, dict) or doc.get("type") != "doc" or doc.get("version") != 1:
        return "Operation value must be an Atlassian Document (type doc, version 1)."
    for block in doc.get("content") or []:
        for node in block.get("content") or []:
            if node.get("type") == "text" and not node.get("text"):
                return "Text nodes must not be empty."
    return ""


@dataclass
class StandIn:
    """What both stand-ins share: a server, `down`, a held create, the calls seen."""

    auth: tuple[str, ...]
    url: str = ""
    calls: list[tuple[str, str]] = field(default_factory=list)
    is_down: bool = False
    held: asyncio.Event | None = None
    creating: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None

    def down(self) -> None:
        self.is_down = True

    def up(self) -> None:
        self.is_down = False

    def hold_create(self) -> None:
        self.held = asyncio.Event()

    def release(self) -> None:
        if self.held is not None:
            self.held.set()

    @web.middleware
    async def gate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.calls.append((request.method, request.path))
        if self.is_down:
            return web.json_response({"error": "down for maintenance"}, status=503)
        if request.headers.get("Authorization") not in self.auth:
            return web.json_response({"errorMessages": ["You are not authenticated."]}, status=401)
        return await handler(request)

    async def start(self, routes: list[web.RouteDef]) -> None:
        app = web.Application(middlewares=[self.gate])
        app.add_routes(routes)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        self.release()
        if self._runner is not None:
            await self._runner.cleanup()

    async def made(self) -> None:
        """A create was made: told, then held while `hold_create` holds it."""
        self.creating.set()
        if self.held is not None:
            await self.held.wait()


class JiraStandIn(StandIn):
    def __init__(self) -> None:
        super().__init__(auth=(basic(JIRA_EMAIL, JIRA_TOKEN),))
        self.issues: dict[str, dict[str, Any]] = {}
        self._numbers = itertools.count(1)

    def refused(self, errors: dict[str, str]) -> web.Response:
        return web.json_response({"errorMessages": [], "errors": errors}, status=400)

    async def create(self, request: web.Request) -> web.Response:
        fields = (await request.json()).get("fields") or {}
        errors = {}
        if (fields.get("project") or {}).get("key") != JIRA_PROJECT:
            errors["project"] = "Specify a valid project ID or key"
        if not (fields.get("issuetype") or {}).get("name"):
            errors["issuetype"] = "Specify an issue type"
        if not isinstance(fields.get("summary"), str) or not fields["summary"].strip():
            errors["summary"] = "You must specify a summary of the issue."
        if problem := adf_problem(fields.get("description")):
            errors["description"] = problem
        if any(" " in label for label in fields.get("labels") or []):
            errors["labels"] = "The label can't contain spaces."
        if errors:
            return self.refused(errors)
        number = next(self._numbers)
        key = f"{JIRA_PROJECT}-{number}"
        self.issues[key] = {"id": str(10000 + number), "key": key, "fields": fields, "comments": [], "status": "To Do"}
        await self.made()
        return web.json_response({"id": str(10000 + number), "key": key, "self": f"{self.url}/rest/api/3/issue/"
                                  f"{10000 + number}"}, status=201)

    async def search(self, request: web.Request) -> web.Response:
        jql = str((await request.json()).get("jql", ""))
        wanted = re.fullmatch(r'labels = "([^"]+)"', jql)
        if wanted is None:
            return web.json_response({"errorMessages": [f"Error in the JQL Query: {jql[:40]}"]}, status=400)
        found = [{"id": i["id"], "key": i["key"]} for i in self.issues.values()
                 if wanted[1] in i["fields"].get("labels", [])]
        return web.json_response({"issues": found, "isLast": True})

    def issue(self, request: web.Request) -> dict[str, Any]:
        found = self.issues.get(request.match_info["key"])
        if found is None:
            raise web.HTTPNotFound(text=json.dumps({"errorMessages": ["Issue does not exist"]}),
                                   content_type="application/json")
        return found

    async def comment(self, request: web.Request) -> web.Response:
        issue = self.issue(request)
        body = (await request.json()).get("body")
        if problem := adf_problem(body):
            return self.refused({"comment": problem})
        issue["comments"].append(body)
        return web.json_response({"id": str(len(issue["comments"])), "body": body}, status=201)

    async def transitions(self, request: web.Request) -> web.Response:
        issue = self.issue(request)
        offered = [{"id": "11", "name": "To Do"}] if issue["status"] == "Done" else [{"id": "31", "name": "Done"}]
        return web.json_response({"transitions": offered})

    async def transition(self, request: web.Request) -> web.Response:
        issue = self.issue(request)
        wanted = str(((await request.json()).get("transition") or {}).get("id", ""))
        if wanted not in ("11", "31"):
            return self.refused({"transition": "Transition id is not valid for this issue."})
        issue["status"] = "Done" if wanted == "31" else "To Do"
        return web.Response(status=204)

    async def read(self, request: web.Request) -> web.Response:
        issue = self.issue(request)
        category = "done" if issue["status"] == "Done" else "new"
        return web.json_response({"id": issue["id"], "key": issue["key"], "fields": {
            "status": {"name": issue["status"], "statusCategory": {"key": category}}}})

    def text_of(self, key: str) -> str:
        """An issue's description and comments, as plain text."""
        issue = self.issues[key]
        docs = [issue["fields"]["description"], *issue["comments"]]
        return "\n".join(n["text"] for d in docs for b in d["content"] for n in b["content"])

    async def open(self) -> None:
        await self.start([
            web.post("/rest/api/3/issue", self.create), web.post("/rest/api/3/search/jql", self.search),
            web.post("/rest/api/3/issue/{key}/comment", self.comment),
            web.get("/rest/api/3/issue/{key}/transitions", self.transitions),
            web.post("/rest/api/3/issue/{key}/transitions", self.transition),
            web.get("/rest/api/3/issue/{key}", self.read)])

    def env(self) -> dict[str, str]:
        return {"JIRA_URL": self.url, "JIRA_EMAIL": JIRA_EMAIL, "JIRA_API_TOKEN": JIRA_TOKEN,
                "JIRA_PROJECT": JIRA_PROJECT}


class ServiceNowStandIn(StandIn):
    def __init__(self) -> None:
        super().__init__(auth=(basic(SN_USER, SN_PASSWORD), f"Bearer {SN_TOKEN}"))
        self.changes: dict[str, dict[str, str]] = {}
        self._numbers = itertools.count(30001)

    def refused(self, message: str) -> web.Response:
        return web.json_response({"error": {"message": message, "detail": ""}, "status": "failure"}, status=400)

    @staticmethod
    def shown(row: dict[str, str], request: web.Request) -> dict[str, str]:
        wanted = [f for f in request.query.get("sysparm_fields", "").split(",") if f]
        return {k: v for k, v in row.items() if k in wanted} if wanted else dict(row)

    async def create(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not isinstance(body, dict) or not str(body.get("short_description", "")).strip():
            return self.refused("Mandatory field missing: short_description")
        sys_id = uuid.uuid4().hex
        row = {k: str(v) for k, v in body.items()}
        row.update(sys_id=sys_id, number=f"CHG00{next(self._numbers)}", state="-5")
        self.changes[sys_id] = row
        await self.made()
        return web.json_response({"result": self.shown(row, request)}, status=201)

    async def query(self, request: web.Request) -> web.Response:
        wanted = re.fullmatch(r"correlation_id=([A-Za-z0-9-]+)", request.query.get("sysparm_query", ""))
        rows = [r for r in self.changes.values() if wanted and r.get("correlation_id") == wanted[1]]
        return web.json_response({"result": [self.shown(r, request) for r in rows]})

    async def update(self, request: web.Request) -> web.Response:
        row = self.changes.get(request.match_info["sys_id"])
        if row is None:
            return web.json_response({"error": {"message": "No Record found"}, "status": "failure"}, status=404)
        body = {k: str(v) for k, v in (await request.json()).items()}
        if body.get("state") in ("3", "4") and not (body.get("close_code") and body.get("close_notes")):
            return self.refused("Mandatory fields missing: close_code, close_notes")
        row.update(body)
        return web.json_response({"result": self.shown(row, request)})

    def by_correlation(self, approval: str) -> list[dict[str, str]]:
        return [r for r in self.changes.values() if r.get("correlation_id") == approval]

    async def open(self) -> None:
        table = "/api/now/table/change_request"
        await self.start([web.post(table, self.create), web.get(table, self.query),
                          web.patch(table + "/{sys_id}", self.update)])

    def env(self, *, oauth: bool = False) -> dict[str, str]:
        account = {"SERVICENOW_TOKEN": SN_TOKEN} if oauth else {"SERVICENOW_USER": SN_USER,
                                                              "SERVICENOW_PASSWORD": SN_PASSWORD}
        return {"SERVICENOW_URL": self.url, **account}


@asynccontextmanager
async def serving(standin: StandIn) -> AsyncIterator[StandIn]:
    await standin.open()  # type: ignore[attr-defined]
    try:
        yield standin
    finally:
        await standin.stop()
