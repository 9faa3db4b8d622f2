"""`OnCallStandIn`: a local on-call provider (issue 90), an aiohttp server on a free port of 127.0.0.1, its own thread.

    with OnCallStandIn(token="t") as oncall:                     # started; stopped at the end
        oncall.rotate("payments", ["alice@example.com", "bob@example.com"], every=300)  # hands over every 5 min
        oncall.hand_over("payments", ["bob@example.com"])       # bob is on call from now on
        oncall.failing = "down"                                 # every call answers 503 ("malformed": bad JSON)
        oncall.base_url                                         # ONCALL_URL (PagerDuty's, Opsgenie's, Grafana's)
        oncall.calls                                            # the paths asked, in order

The shapes are the providers' (bot/people/oncall_providers.py says them); each checks its own `Authorization`
(PagerDuty `Token token=<t>`, Opsgenie `GenieKey <t>`, Grafana OnCall `<t>`) and answers 401 to any other. A user's id
is `P` and their address's local part in capitals (`alice@example.com`: `PALICE`)."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from bot.devkit.standin import ThreadedApp, free_port

Failing = Literal["down", "malformed", "slow"] | None


@dataclass(slots=True)
class Rotation:
    """Who is on call in a schedule: `people` (emails) in turn, each for `every` seconds from `since` (0: the first
    one for good)."""

    people: list[str]
    every: float = 0.0
    since: float = 0.0

    def now(self, at: float) -> list[str]:
        if not self.people:
            return []
        if self.every <= 0:
            return [self.people[0]]
        return [self.people[int((at - self.since) // self.every) % len(self.people)]]

    def until(self, at: float) -> float | None:
        """When the one on call now hands over (None: never)."""
        if self.every <= 0 or len(self.people) < 2:
            return None
        return self.since + (int((at - self.since) // self.every) + 1) * self.every


def user_id(email: str) -> str:
    return "P" + "".join(c for c in email.partition("@")[0].upper() if c.isalnum())


class OnCallStandIn(ThreadedApp):
    """The stand-in (module docstring): a context manager, or `start()` then `stop()`."""

    what, thread_name, access_log = "the on-call stand-in", "oncall-standin", None

    def __init__(self, *, token: str = "dev-oncall-token", host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__()
        self.token = token
        self.host = host
        self.port = port or free_port()
        self.schedules: dict[str, Rotation] = {}
        self.failing: Failing = None
        self.calls: list[str] = []
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def rotate(self, schedule: str, people: list[str], *, every: float, since: float | None = None) -> None:
        """`people` take `schedule` in turn, `every` seconds each, from `since` (default: now)."""
        with self._lock:
            self.schedules[schedule] = Rotation(list(people), every, time.time() if since is None else since)

    def hand_over(self, schedule: str, people: list[str]) -> None:
        """`people` are on call in `schedule` from now on (all of them at once; [] for nobody)."""
        with self._lock:
            self.schedules[schedule] = Rotation(list(people))

    def on_call(self, schedule: str) -> list[str]:
        """Who is on call in `schedule` now (the dev page's words)."""
        with self._lock:
            rotation = self.schedules.get(schedule)
            return [] if rotation is None else (rotation.people if rotation.every <= 0 else rotation.now(time.time()))

    def view(self) -> dict[str, object]:
        """Each schedule: who is on call now and when they hand over."""
        now = time.time()
        with self._lock:
            return {name: {"on_call": self._now(rotation, now), "until": rotation.until(now)}
                    for name, rotation in self.schedules.items()}

    @staticmethod
    def _now(rotation: Rotation, at: float) -> list[str]:
        return list(rotation.people) if rotation.every <= 0 else rotation.now(at)

    # the server

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/oncalls", self._pd_oncalls)
        app.router.add_get("/users/{id}", self._pd_user)
        app.router.add_get("/v2/schedules/{id}/on-calls", self._og_oncalls)
        app.router.add_get("/api/v1/schedules/{id}/", self._gr_schedule)
        app.router.add_get("/api/v1/users/{id}/", self._gr_user)
        return app

    async def _gate(self, request: web.Request, expected: str) -> web.Response | None:
        with self._lock:
            self.calls.append(request.path_qs)
            failing = self.failing
        if request.headers.get("Authorization") != expected:
            return web.json_response({"error": {"message": "Unauthorized", "code": 2006}}, status=401)
        if failing == "down":
            return web.json_response({"error": "unavailable"}, status=503)
        if failing == "malformed":
            return web.Response(text="<html>maintenance</html>", content_type="text/html")
        if failing == "slow":  # a provider that does not answer: the caller's timeout ends it (or `failing` reset)
            for _ in range(600):
                if self.failing != "slow" or not self.serving:
                    break
                await asyncio.sleep(0.1)
        return None

    def _emails(self, schedule: str) -> list[str] | None:
        with self._lock:
            rotation = self.schedules.get(schedule)
            return None if rotation is None else self._now(rotation, time.time())

    def _known(self, uid: str) -> str | None:
        with self._lock:
            every = {email for rotation in self.schedules.values() for email in rotation.people}
        return next((email for email in sorted(every) if user_id(email) == uid), None)

    async def _pd_oncalls(self, request: web.Request) -> web.Response:
        if (refused := await self._gate(request, f"Token token={self.token}")) is not None:
            return refused
        oncalls = []
        for schedule in request.query.getall("schedule_ids[]", []):
            emails = self._emails(schedule)
            if emails is None:
                return web.json_response({"error": {"message": "Not Found", "code": 2100}}, status=404)
            oncalls += [{"escalation_level": 1, "start": None, "end": None,
                         "schedule": {"id": schedule, "type": "schedule_reference", "summary": schedule},
                         "user": {"id": user_id(email), "type": "user_reference", "summary": email}}
                        for email in emails]
        return web.json_response({"oncalls": oncalls, "limit": 25, "offset": 0, "more": False, "total": None})

    async def _pd_user(self, request: web.Request) -> web.Response:
        if (refused := await self._gate(request, f"Token token={self.token}")) is not None:
            return refused
        email = self._known(request.match_info["id"])
        if email is None:
            return web.json_response({"error": {"message": "Not Found", "code": 2100}}, status=404)
        return web.json_response({"user": {"id": user_id(email), "type": "user", "email": email,
                                           "name": email.partition("@")[0].title()}})

    async def _og_oncalls(self, request: web.Request) -> web.Response:
        if (refused := await self._gate(request, f"GenieKey {self.token}")) is not None:
            return refused
        schedule = request.match_info["id"]
        emails = self._emails(schedule)
        if emails is None:
            return web.json_response({"message": "Schedule not found", "took": 0.001}, status=404)
        return web.json_response({"data": {"_parent": {"id": schedule, "name": schedule, "enabled": True},
                                           "onCallRecipients": emails}, "took": 0.01, "requestId": "dev"})

    async def _gr_schedule(self, request: web.Request) -> web.Response:
        if (refused := await self._gate(request, self.token)) is not None:
            return refused
        schedule = request.match_info["id"]
        emails = self._emails(schedule)
        if emails is None:
            return web.json_response({"detail": "Not found."}, status=404)
        return web.json_response({"id": schedule, "name": schedule, "type": "web", "time_zone": "UTC",
                                  "on_call_now": [user_id(email) for email in emails]})

    async def _gr_user(self, request: web.Request) -> web.Response:
        if (refused := await self._gate(request, self.token)) is not None:
            return refused
        email = self._known(request.match_info["id"])
        if email is None:
            return web.json_response({"detail": "Not found."}, status=404)
        return web.json_response({"id": user_id(email), "email": email, "username": email.partition("@")[0],
                                  "role": "user"})
