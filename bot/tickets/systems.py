"""The ticket systems' APIs (issue 91): Jira Cloud's REST v3 and ServiceNow's Table API, each able to find the change
an approval opened (by a label or a correlation id carrying the approval's id), open one, and close it with the
decision. Each call has a timeout; a refusal or no answer raises `TicketFailed` naming the status or the error's kind,
never a credential (the caller retries it as due work: bot/tickets/desk.py).

Jira: `POST /rest/api/3/search/jql` (`labels = "approval-<id>"`), `POST /rest/api/3/issue` (project, issuetype,
summary, description in ADF, the label), `POST /rest/api/3/issue/<key>/comment` (the decision, who, when), then the
transition named JIRA_DONE_TRANSITION (`GET`, `POST /rest/api/3/issue/<key>/transitions`); basic auth with the
account's e-mail and API token.
ServiceNow: `GET /api/now/table/change_request?sysparm_query=correlation_id=<id>`, `POST /api/now/table/change_request`
(short_description, description, correlation_id), `PATCH /api/now/table/change_request/<sys_id>` (state: 3 closed
when approved, 4 canceled otherwise; close_code, close_notes); basic auth, or an OAuth bearer token."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import aiohttp

from bot.core.settings import Settings, reveal

log = logging.getLogger(__name__)
LABEL = "approval-"  # Jira's label carrying the approval's id (labels take no spaces)
SOURCE = "agent-approvals"  # ServiceNow's correlation_display of the changes this bot opens


class TicketFailed(Exception):
    """The ticket system refused (`why`: its HTTP status) or did not answer (`why`: the error's kind)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


@dataclass(frozen=True, slots=True)
class Change:
    """What a ticket says: for `approval_id`, a one-line `summary` and the `description`'s lines."""

    approval_id: str
    summary: str
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Closing:
    """How an approval ended: `approved` or not, and the lines saying the decision, who and when."""

    approved: bool
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Found:
    """A ticket in its system: its `key` (people's), `ref` (the API's id) and `url` (its page)."""

    key: str
    ref: str
    url: str


Commented = Callable[[], Awaitable[None]]  # the decision's comment is posted (kept so a retry posts it once)


class TicketSystem(Protocol):
    name: str

    async def find(self, approval_id: str) -> Found | None: ...
    async def open(self, change: Change) -> Found: ...
    async def close(self, ticket: Found, closing: Closing, *, commented: bool, on_comment: Commented) -> None: ...


class _Http:
    """One system's HTTP calls: JSON in and out, a timeout, a refusal raised as `TicketFailed`."""

    def __init__(self, base: str, *, headers: dict[str, str], auth: aiohttp.BasicAuth | None, timeout: float) -> None:
        self.base = base.rstrip("/")
        self._headers = {"Accept": "application/json", **headers}
        self._auth = auth
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def call(self, method: str, path: str, *, body: Any = None, ok: tuple[int, ...] = (200, 201)) -> Any:
        try:
            async with aiohttp.ClientSession(timeout=self._timeout, auth=self._auth, headers=self._headers) as http, \
                    http.request(method, self.base + path, json=body) as response:
                if response.status not in ok:
                    raise TicketFailed(str(response.status))
                return await response.json() if response.status != 204 else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise TicketFailed(type(exc).__name__) from None

    @property
    def host(self) -> str:
        return urlsplit(self.base).hostname or "?"


def adf(lines: tuple[str, ...]) -> dict[str, Any]:
    """`lines` as an Atlassian Document Format document: one paragraph each (an empty text node is refused)."""
    return {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": line}]} for line in lines if line]}


class Jira:
    name = "jira"

    def __init__(self, settings: Settings) -> None:
        token = reveal(settings.jira_api_token) or ""
        self._http = _Http(settings.jira_url, headers={}, auth=aiohttp.BasicAuth(settings.jira_email, token),
                           timeout=settings.ticket_timeout)
        self._project = settings.jira_project
        self._type = settings.jira_issue_type
        self._done = settings.jira_done_transition

    def _found(self, issue: dict[str, Any]) -> Found:
        key = str(issue["key"])
        return Found(key=key, ref=str(issue.get("id", "")), url=f"{self._http.base}/browse/{quote(key)}")

    async def find(self, approval_id: str) -> Found | None:
        found = await self._http.call("POST", "/rest/api/3/search/jql", body={
            "jql": f'labels = "{LABEL}{approval_id}"', "fields": ["key"], "maxResults": 1})
        issues = found.get("issues") or []
        return self._found(issues[0]) if issues else None

    async def open(self, change: Change) -> Found:
        made = await self._http.call("POST", "/rest/api/3/issue", body={"fields": {
            "project": {"key": self._project}, "issuetype": {"name": self._type}, "summary": change.summary[:250],
            "description": adf(change.lines), "labels": [LABEL + change.approval_id]}}, ok=(201,))
        return self._found(made)

    async def close(self, ticket: Found, closing: Closing, *, commented: bool, on_comment: Commented) -> None:
        path = f"/rest/api/3/issue/{quote(ticket.key)}"
        if not commented:
            await self._http.call("POST", path + "/comment", body={"body": adf(closing.lines)}, ok=(201,))
            await on_comment()
        offered = await self._http.call("GET", path + "/transitions")
        named = [t for t in offered.get("transitions") or [] if str(t.get("name", "")).lower() == self._done.lower()]
        if not named:  # closed already (a retry after a crash), or a workflow without it
            issue = await self._http.call("GET", path + "?fields=status")
            category = ((issue.get("fields") or {}).get("status") or {}).get("statusCategory") or {}
            if category.get("key") == "done":
                return
            raise TicketFailed(f"no transition named {self._done!r}")
        await self._http.call("POST", path + "/transitions", body={"transition": {"id": str(named[0]["id"])}},
                              ok=(204,))


class ServiceNow:
    name = "servicenow"
    TABLE = "/api/now/table/change_request"

    def __init__(self, settings: Settings) -> None:
        token = reveal(settings.servicenow_token)
        auth = None if token else aiohttp.BasicAuth(settings.servicenow_user,
                                                    reveal(settings.servicenow_password) or "")
        self._http = _Http(settings.servicenow_url, headers={"Authorization": f"Bearer {token}"} if token else {},
                           auth=auth, timeout=settings.ticket_timeout)

    def _found(self, row: dict[str, Any]) -> Found:
        sys_id = str(row["sys_id"])
        return Found(key=str(row.get("number", "")), ref=sys_id,
                     url=f"{self._http.base}/nav_to.do?uri=change_request.do%3Fsys_id%3D{quote(sys_id)}")

    async def find(self, approval_id: str) -> Found | None:
        found = await self._http.call("GET", f"{self.TABLE}?sysparm_query=correlation_id%3D{quote(approval_id)}"
                                      "&sysparm_fields=sys_id,number&sysparm_limit=1")
        rows = found.get("result") or []
        return self._found(rows[0]) if rows else None

    async def open(self, change: Change) -> Found:
        made = await self._http.call("POST", f"{self.TABLE}?sysparm_fields=sys_id,number", body={
            "short_description": change.summary[:160], "description": "\n".join(change.lines), "type": "normal",
            "correlation_id": change.approval_id, "correlation_display": SOURCE}, ok=(201,))
        return self._found(made["result"])

    async def close(self, ticket: Found, closing: Closing, *, commented: bool, on_comment: Commented) -> None:
        await self._http.call("PATCH", f"{self.TABLE}/{quote(ticket.ref)}?sysparm_fields=sys_id,state", body={
            "state": "3" if closing.approved else "4", "close_code": "successful" if closing.approved else
            "unsuccessful", "close_notes": "\n".join(closing.lines)})


def ticket_systems(settings: Settings) -> dict[str, TicketSystem]:
    """The ticket systems set up in `settings`, by name (none: no change tickets)."""
    found: dict[str, TicketSystem] = {}
    if settings.jira_url:
        found["jira"] = Jira(settings)
    if settings.servicenow_url:
        found["servicenow"] = ServiceNow(settings)
    return found
