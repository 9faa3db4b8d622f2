"""On-call schedules as approvers (issue 90): who is on call now in a schedule, as person ids (`OnCall.now`).

An approver `oncall:<schedule>` (a channel's `approvers` or `escalate_to`, a policy's `@approvers`) is read here at the
ask and again at each escalation (bot/approvals/oncall.py): the provider (bot/people/oncall_providers.py: PagerDuty,
Opsgenie, Grafana OnCall; ONCALL_PROVIDER, ONCALL_URL, ONCALL_TOKEN) says the emails of who is on call now, and each
email is a person by `People.by_email` (a Slack user, a Teams user, else the e-mail-only person `email:<address>`).

The answer is kept in Redis (bot/store/oncall.py) for ONCALL_CACHE_SECONDS (a minute), so that every worker reads the
same people for a schedule within that minute (an ask on one worker and its copies drawn on another agree) and the
provider is asked once a minute per schedule whatever the number of approvals. "Cannot answer" (no provider set, down,
5xx, a timeout, a bad token, an answer of another shape) is None, never an empty list, and is never kept. Each lookup
counts in `hitl_oncall_lookups_total{provider,outcome}` (outcome: ok, cached, unavailable, refused, malformed, unset).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

import aiohttp
from prometheus_client import Counter

from bot.core.people import SCHEDULE, CannotCheck, PersonId, person_of
from bot.people.oncall_providers import CannotAnswer, Provider

log = logging.getLogger(__name__)
OUTCOMES = ("ok", "cached", "unavailable", "refused", "malformed", "unset")


class ByEmail(Protocol):
    """Who a verified email is (bot/people/directory.py `People.by_email`)."""

    async def by_email(self, email: str) -> PersonId | None: ...


class Kept(Protocol):
    """Where answers are kept a minute (bot/store/oncall.py `OnCallCache`)."""

    async def get(self, schedule: str) -> list[str] | None: ...

    async def keep(self, schedule: str, people: list[str], *, seconds: int) -> None: ...


class OnCall:
    """Who is on call now (module docstring); `provider` None: none set (every lookup cannot answer)."""

    def __init__(self, *, provider: Provider | None, people: ByEmail, kept: Kept, timeout: float = 5.0,
                 cache_seconds: int = 60, counter: Counter | None = None) -> None:
        self._provider = provider
        self._people = people
        self._kept = kept
        self._timeout = timeout
        self._cache_seconds = cache_seconds
        self._counter = counter
        self._name = provider.name if provider is not None else "none"

    @property
    def provider(self) -> str:
        """The provider's name (pagerduty, opsgenie, grafana; `none`)."""
        return self._name

    async def now(self, schedule: str, /) -> list[str] | None:
        """The person ids on call now in `schedule` (as kept within the minute, else as the provider says); None when
        the provider cannot answer (or none is set, or `schedule` is no schedule's name)."""
        if self._provider is None or not SCHEDULE.fullmatch(schedule):
            self._count("unset")
            return None
        kept = await self._kept.get(schedule)
        if kept is not None:
            self._count("cached")
            return kept
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout)) as session:
                emails = await asyncio.wait_for(self._provider.on_call(session, schedule), self._timeout)
        except CannotAnswer as exc:
            log.warning("on-call schedule %s could not be read from %s: %s", schedule, self._name, exc)
            self._count(exc.kind)
            return None
        except TimeoutError:
            log.warning("on-call schedule %s could not be read from %s: no answer in %ss", schedule, self._name,
                        self._timeout)
            self._count("unavailable")
            return None
        found = [await self._person(email) for email in emails]
        if None in found:
            log.warning("on-call schedule %s from %s: an email is no address", schedule, self._name)
            self._count("malformed")
            return None
        people = list(dict.fromkeys(person for person in found if person is not None))
        await self._kept.keep(schedule, people, seconds=self._cache_seconds)
        self._count("ok")
        return people

    async def _person(self, email: str) -> str | None:
        """The person whose verified email `email` is; else (none, or no surface can say now) the e-mail-only
        person of that address, which whoever verifies that email later decides as (`People.same`); None when
        `email` is no address a person id takes."""
        try:
            own = person_of("email", email)  # (the address checked first)
        except ValueError:
            return None
        try:
            found = await self._people.by_email(email)
        except CannotCheck:
            found = None
        return str(found) if found is not None else str(own)

    def _count(self, outcome: str) -> None:
        if self._counter is not None:
            self._counter.labels(self._name, outcome).inc()
