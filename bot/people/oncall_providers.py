"""The on-call providers' APIs (issue 90): who is on call now in a schedule, as their emails. Each reads one shape and
raises `CannotAnswer` (with the kind: `unavailable`, `refused`, `malformed`) for anything else: a provider down, a
5xx, a timeout, a bad token, an answer of another shape. A schedule nobody is on call for answers [] (the caller
sends it to the fallback approvers too); a malformed answer is never read as nobody. The token goes in the
`Authorization` header only: never in a log, an error or Redis.

PagerDuty (REST API v2): `GET /oncalls?schedule_ids[]=<id>&earliest=true` (`Authorization: Token token=<token>`):
    {"oncalls": [{"user": {"id": "PXPGF42", "type": "user_reference"}, "schedule": {...}, ...}], "more": false}
  then each user's `GET /users/<id>`: {"user": {"id": "PXPGF42", "email": "alice@example.com", ...}}.
Opsgenie: `GET /v2/schedules/<name or id>/on-calls?scheduleIdentifierType=name|id&flat=true`
  (`Authorization: GenieKey <key>`): {"data": {"_parent": {...}, "onCallRecipients": ["alice@example.com"]}}
  (a user's Opsgenie username is their email).
Grafana OnCall: `GET /api/v1/schedules/<id>/` (`Authorization: <token>`): {"id": ..., "on_call_now": ["U4DNY931HHJS5"]}
  then each user's `GET /api/v1/users/<id>/`: {"id": "U4DNY931HHJS5", "email": "alice@example.com", ...}."""

from __future__ import annotations

import re
from typing import Any, Literal, Protocol
from urllib.parse import quote

import aiohttp

Failure = Literal["unavailable", "refused", "malformed"]
EMAIL = re.compile(r"[^@\s,<>]{1,64}@[^@\s,<>]{1,255}")
MAX_PEOPLE = 50  # more people on call at once than this is not a schedule's answer
_ID = re.compile(r"[A-Za-z0-9_.:-]{1,100}")


class CannotAnswer(Exception):
    """The provider could not say who is on call now: `kind` (unavailable, refused, malformed) and a short reason
    (an HTTP status, the error's kind; never a credential)."""

    def __init__(self, kind: Failure, why: str) -> None:
        super().__init__(f"{kind}: {why}")
        self.kind: Failure = kind
        self.why = why


class Provider(Protocol):
    """One on-call provider's API: the emails of who is on call now in `schedule`."""

    name: str

    async def on_call(self, session: aiohttp.ClientSession, schedule: str, /) -> list[str]: ...


async def get_json(session: aiohttp.ClientSession, url: str, *, headers: dict[str, str],
                   params: list[tuple[str, str]] | None = None) -> Any:
    """GET `url`'s JSON; CannotAnswer when the provider refuses (401, 403, 404: `refused`), fails (5xx, no answer:
    `unavailable`) or answers what is not JSON (`malformed`)."""
    try:
        async with session.get(url, headers=headers, params=params, allow_redirects=False) as response:
            if response.status in (401, 403, 404):
                raise CannotAnswer("refused", str(response.status))
            if response.status != 200:
                raise CannotAnswer("unavailable", str(response.status))
            try:
                return await response.json(content_type=None)
            except ValueError:
                raise CannotAnswer("malformed", "not JSON") from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise CannotAnswer("unavailable", type(exc).__name__) from None


def email_of(value: object) -> str:
    """A well-formed email, lowercased; CannotAnswer (`malformed`) otherwise."""
    if not isinstance(value, str) or not EMAIL.fullmatch(value.strip()):
        raise CannotAnswer("malformed", "a user without an email")
    return value.strip().lower()


def _ids(values: object, *, where: str) -> list[str]:
    if not isinstance(values, list) or len(values) > MAX_PEOPLE:
        raise CannotAnswer("malformed", f"no list of {where}")
    found = []
    for value in values:
        if not isinstance(value, str) or not _ID.fullmatch(value):
            raise CannotAnswer("malformed", f"a bad id in {where}")
        found.append(value)
    return list(dict.fromkeys(found))


def pagerduty_user_ids(body: object) -> list[str]:
    """The users of a PagerDuty `GET /oncalls` answer, in order, once each."""
    oncalls = body.get("oncalls") if isinstance(body, dict) else None
    if not isinstance(oncalls, list):
        raise CannotAnswer("malformed", "no oncalls")
    users = [entry.get("user") if isinstance(entry, dict) else None for entry in oncalls]
    return _ids([user.get("id") if isinstance(user, dict) else None for user in users], where="oncalls")


def pagerduty_email(body: object) -> str:
    """The email of a PagerDuty `GET /users/<id>` answer."""
    user = body.get("user") if isinstance(body, dict) else None
    return email_of(user.get("email") if isinstance(user, dict) else None)


def opsgenie_emails(body: object) -> list[str]:
    """The recipients of an Opsgenie `GET /v2/schedules/<id>/on-calls?flat=true` answer (their usernames: emails)."""
    data = body.get("data") if isinstance(body, dict) else None
    recipients = data.get("onCallRecipients") if isinstance(data, dict) else None
    if not isinstance(recipients, list) or len(recipients) > MAX_PEOPLE:
        raise CannotAnswer("malformed", "no onCallRecipients")
    return list(dict.fromkeys(email_of(r) for r in recipients))


def grafana_user_ids(body: object) -> list[str]:
    """The users of a Grafana OnCall `GET /api/v1/schedules/<id>/` answer (`on_call_now`)."""
    return _ids(body.get("on_call_now") if isinstance(body, dict) else None, where="on_call_now")


def grafana_email(body: object) -> str:
    """The email of a Grafana OnCall `GET /api/v1/users/<id>/` answer."""
    return email_of(body.get("email") if isinstance(body, dict) else None)


def _path(segment: str) -> str:
    return quote(segment, safe="")


class PagerDuty:
    """PagerDuty's REST API v2 (module docstring)."""

    name = "pagerduty"

    def __init__(self, base: str, token: str) -> None:
        self._base = base.rstrip("/")
        self._headers = {"Authorization": f"Token token={token}", "Accept": "application/vnd.pagerduty+json;version=2"}

    async def on_call(self, session: aiohttp.ClientSession, schedule: str, /) -> list[str]:
        body = await get_json(session, f"{self._base}/oncalls", headers=self._headers,
                              params=[("schedule_ids[]", schedule), ("earliest", "true")])
        emails = []
        for user in pagerduty_user_ids(body):
            found = await get_json(session, f"{self._base}/users/{_path(user)}", headers=self._headers)
            emails.append(pagerduty_email(found))
        return list(dict.fromkeys(emails))


class Opsgenie:
    """Opsgenie's schedules API (module docstring); a schedule named by its id when it looks like one (a UUID), else
    by its name."""

    name = "opsgenie"
    _UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)

    def __init__(self, base: str, token: str) -> None:
        self._base = base.rstrip("/")
        self._headers = {"Authorization": f"GenieKey {token}"}

    async def on_call(self, session: aiohttp.ClientSession, schedule: str, /) -> list[str]:
        kind = "id" if self._UUID.fullmatch(schedule) else "name"
        body = await get_json(session, f"{self._base}/v2/schedules/{_path(schedule)}/on-calls", headers=self._headers,
                              params=[("scheduleIdentifierType", kind), ("flat", "true")])
        return opsgenie_emails(body)


class GrafanaOnCall:
    """Grafana OnCall's HTTP API (module docstring)."""

    name = "grafana"

    def __init__(self, base: str, token: str) -> None:
        self._base = base.rstrip("/")
        self._headers = {"Authorization": token}

    async def on_call(self, session: aiohttp.ClientSession, schedule: str, /) -> list[str]:
        body = await get_json(session, f"{self._base}/api/v1/schedules/{_path(schedule)}/", headers=self._headers)
        emails = []
        for user in grafana_user_ids(body):
            found = await get_json(session, f"{self._base}/api/v1/users/{_path(user)}/", headers=self._headers)
            emails.append(grafana_email(found))
        return list(dict.fromkeys(emails))


def provider(name: str, *, base: str, token: str) -> Provider:
    """The provider `name` (pagerduty, opsgenie, grafana) at `base` with `token`."""
    kinds: dict[str, type[PagerDuty] | type[Opsgenie] | type[GrafanaOnCall]] = {
        "pagerduty": PagerDuty, "opsgenie": Opsgenie, "grafana": GrafanaOnCall}
    return kinds[name](base, token)
