"""The client of the Approvals API: ask, wait, withdraw. It holds an API key, never a Slack token or Redis.

    async with ApprovalsClient("https://approvals.example.com", key=os.environ["AGENT_APPROVALS_KEY"]) as client:
        asked = await client.request_tool("send_email", {"to": "bob@example.com"}, title="Tell Bob")
        decided = await client.wait(asked.id)
        if decided.approved:
            send_email(**decided.arguments)  # exactly what was approved

It is also an `Approver` (`request(ApprovalRequest, token) -> Decision`), so every integration that asks
through an approver (AutoGen's input function, `require_approval`, input modes) asks through the API.

Every call is retried through connection errors, 502/503/504 and a worker that died mid-request,
on the next of `url`'s workers if several are given; an ask is retried with the same
`Idempotency-Key`, so a retry after a lost answer never makes a second card. A bot that has not answered
this client yet is tried only briefly: nothing listening there raises `Unreachable` at once, one line naming
the URL (`check()` tries the URL and the key before anything is asked). `url` may end in `/` or `/api/v1`.
The HTTP side (retries, base URLs, the errors) is `wire.py`.
`SyncApprovalsClient` does the same for programs without an event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from agent_approvals.answers import AllowedCall as AllowedCall  # (the answers' home is answers.py; named here too)
from agent_approvals.answers import Approval as Approval
from agent_approvals.answers import Use as Use
from agent_approvals.answers import refusal as refusal
from agent_approvals.answers import waiting_words as waiting_words
from agent_approvals.approver import (
    ApprovalRequest,
    Cancellation,
    Decision,
    digest_of,
    not_run,
)
from agent_approvals.artifacts import normalised_all
from agent_approvals.wire import API_PATH, Wire
from agent_approvals.wire import ApprovalsError as ApprovalsError  # (the errors' home is wire.py; named here too)
from agent_approvals.wire import BadKey as BadKey
from agent_approvals.wire import InvalidRequest as InvalidRequest
from agent_approvals.wire import LimitReached as LimitReached
from agent_approvals.wire import NotFound as NotFound
from agent_approvals.wire import OutOfScope as OutOfScope
from agent_approvals.wire import Unreachable as Unreachable

T = TypeVar("T")
LONG_POLL = 50.0  # seconds per long-poll (the API allows 60)
KEY_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,128}")  # an Idempotency-Key the API takes


log = logging.getLogger("agent_approvals.client")


async def approved_once(client: ApprovalsClient, ask: Callable[[int, bool], Awaitable[Approval]]) -> Approval:
    """The decision to act on (`ApprovalsClient.tool_decision` is its one use): `ask(generation, may_have_run)`
    asks (0 first; each generation with its own idempotency key), and an approved call (by a person, a rule or
    the input mode alike) is used (`client.use`) before it is returned, so it runs once. The use is this
    decision's own (its token): another decision that finds the same approval (the same idempotency key asked
    twice, a resumed process) cannot use it again. When an approval was used already (its process died, perhaps
    while the call ran), the call is asked about again with the next generation, as one that may have run
    (`may_have_run=True`: the card says so and only a person may approve it, never a rule): an approval never
    runs a call twice by itself. A rule's approval whose rule was revoked before the use is asked about again
    (not as one that may have run: it did not). A decision still pending (`ask` waited as long as it may) is
    returned as it is."""
    token = f"use-{uuid.uuid4().hex}"
    generation, may_have_run = 0, False
    while True:
        decided = await ask(generation, may_have_run)
        if not decided.approved:
            return decided
        try:
            if await client.use(decided.id, token=token):
                return decided
            may_have_run = True
        except ApprovalsError as exc:
            if exc.code != "rule_revoked":
                raise
            log.info("approval %s: %s", decided.id, exc)
        generation += 1


def call_key(prefix: str, scope: str, name: str, arguments: dict[str, Any]) -> str:
    """The idempotency key of one exact call (`name` with the canonical JSON of `arguments`) within `scope`
    (a session, a run): the same in every process, different for any other call. Nothing is cut before it is
    keyed: the whole scope and name (a long key is cut by `idempotency_key`, with a digest of the whole)."""
    return idempotency_key(prefix, scope, name, digest_of(arguments))


def idempotency_key(*parts: str) -> str:
    """An Idempotency-Key made of `parts` joined by "-": as it is when the API takes it (1 to 128 of A-Z a-z 0-9
    _ . : -); else its unsafe characters replaced and cut, with a digest of the whole, so two keys stay apart.
    The same in every process (a resumed run finds the asks of the one that died)."""
    key = "-".join(parts)
    if KEY_PATTERN.fullmatch(key):
        return key
    safe = re.sub(r"[^A-Za-z0-9_.:-]", "-", key)
    return f"{safe[:111]}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def again_key(key: str | None, generation: int) -> str | None:
    """The idempotency key of a call's ask of `generation` (0: the key itself)."""
    return key if key is None or not generation else idempotency_key(key, f"again{generation}")


class ApprovalsClient:
    """The async client (see the module docstring).

    Args:
        url: the bot's base URL, or several workers' (tried in turn when one does not answer).
        key: the API key (`aak_…`).
        title: what cards call the task when a call names none.
        channel: the channel to ask in (default: the key's first).
        requester: the Slack user the program acts for (self-approval rules apply to them).
        agent: which agent asks (shown on the card).
        within: seconds a decision may take, for asks that give none (never longer than the channel allows).
        run: this program's run (its own run or session id; default: one of its own, new for each client), sent
            with each ask: an "always allow" rule made for "This run only" covers this run's asks, never another
            program's of the same key.
        retry_for: seconds to keep retrying a call through connection errors and 5xx answers.
        retry_backoff: seconds of the first pause between two tries of a call (default 0.2); each next pause is
            twice as long, at most 5 s.
        on_decided: called with each approval this client asked or waited for, once, when it is decided
            (as it is logged at INFO: "approval a-… approved by @bob").
        on_waiting: called with each approval this client asked or waited for, once, when it first answers
            pending: its card is in Slack (`card_url` links to it when the bot knows its workspace's URL).
        client_name: the client's name in the `X-Agent-Approvals-Client` header (`name/version`): the bot counts
            asks by way in from it (`mcp`: the MCP gateway, `claude-code`: Claude Code's hooks; others: api).
    """

    def __init__(
        self,
        url: str | Sequence[str],
        key: str,
        *,
        title: str = "agent program",
        channel: str = "",
        requester: str = "",
        agent: str = "",
        within: int | None = None,
        run: str = "",
        retry_for: float = 60.0,
        retry_backoff: float = 0.2,
        transport: httpx.AsyncBaseTransport | None = None,
        on_decided: Callable[[Approval], None] | None = None,
        on_waiting: Callable[[Approval], None] | None = None,
        client_name: str = "python",
    ) -> None:
        self.title, self.channel, self.requester, self.agent = title, channel, requester, agent
        self.within = within
        self.run = run or f"run-{uuid.uuid4().hex[:16]}"
        self._token = f"use-{uuid.uuid4().hex}"  # this client's uses: its retries are the same use
        self._on_decided = on_decided
        self._told: set[str] = set()  # the decided approvals logged already
        self._on_waiting = on_waiting
        self._waited: set[str] = set()  # the pending approvals handed to `on_waiting` already
        self._wire = Wire([url] if isinstance(url, str) else url, key, retry_for=retry_for,
                          retry_backoff=retry_backoff, timeout=httpx.Timeout(10.0, read=LONG_POLL + 15.0),
                          transport=transport, client=client_name)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.aclose()

    @property
    def urls(self) -> list[str]:
        """The bot's base URLs, as the client uses them (`wire.base_url`)."""
        return self._wire.urls

    async def aclose(self) -> None:
        await self._wire.aclose()

    # asking ------------------------------------------------------------------------------------
    async def request_tool(
        self,
        name: str,
        arguments: dict[str, Any],
        *,
        schema: dict[str, Any] | None = None,
        editable: bool = True,
        idempotency_key: str | None = None,
        artifacts: Sequence[Mapping[str, Any]] | None = None,
        **options: Any,
    ) -> Approval:
        """Ask whether to call `name` with `arguments` (shown on the card, checked against `schema`).
        `editable=False` when the program can run only this call as made: the card says so, and a
        reviewer may approve, reject or send feedback, but not edit the arguments. `artifacts`: the change itself
        (`agent_approvals.artifacts`: file changes, commands, messages, queries), shown on the card and bound by
        the receipt; an artefact that is not one raises `ArtifactError` before anything is sent."""
        if artifacts:
            options["artifacts"] = normalised_all(artifacts)
        tool: dict[str, Any] = {"name": name, "arguments": arguments}
        if schema is not None:
            tool["schema"] = schema
        if not editable:
            tool["editable"] = False
        return await self._ask({"kind": "tool", "tool": tool}, idempotency_key, options)

    async def tool_decision(
        self,
        name: str,
        arguments: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        at_most: float | None = None,
        **options: Any,
    ) -> Approval:
        """The decision on calling `name(arguments)`: asked (as `request_tool`, with `options`), waited for, and,
        approved, used once (`approved_once`: a call whose approval a dead process used is asked about again,
        as one that may have run). Run the call only when `.approved`, with `.arguments`.

        `at_most` seconds, for harnesses that wait less than people take (deny-then-grant): past them, the
        approval still pending (answer "not yet", and let the caller make the identical call again: the same
        `idempotency_key` finds the same card, and once it is approved that retry runs). The key must then name
        the call exactly (`call_key`: tool and canonical arguments), so a different call never spends another's
        grant."""
        deadline = None if at_most is None else time.monotonic() + at_most

        async def ask(generation: int, may_have_run: bool) -> Approval:
            again: dict[str, Any] = {"may_have_run": True} if may_have_run else {}
            key = again_key(idempotency_key, generation)
            asked = await self.request_tool(name, arguments, idempotency_key=key, **options, **again)
            if not asked.pending:
                return asked
            return await self.wait(asked.id, at_most=None if deadline is None else
                                   max(0.0, deadline - time.monotonic()))

        return await approved_once(self, ask)

    async def request_message(
        self, text: str, *, kind: str = "message", idempotency_key: str | None = None,
        artifacts: Sequence[Mapping[str, Any]] | None = None, **options: Any
    ) -> Approval:
        """Ask about a message (or, with `kind="code"`, code about to run); `artifacts` as `request_tool`'s."""
        if artifacts:
            options["artifacts"] = normalised_all(artifacts)
        return await self._ask({"kind": kind, "text": text}, idempotency_key, options)

    async def _ask(self, body: dict[str, Any], idempotency_key: str | None, options: dict[str, Any]) -> Approval:
        body["title"] = options.pop("title", None) or self.title
        self._defaults(body, options, ("channel", "requester", "agent", "timeout", "run"))
        body.update({k: v for k, v in options.items() if v is not None})
        return self._tell(Approval.from_json(await self._post("/api/v1/approvals", body, idempotency_key)))

    def _tell(self, approval: Approval) -> Approval:
        """Log a decided approval (once per client), and hand it to `on_decided`; a pending one to `on_waiting`
        (once per client)."""
        if approval.pending:
            if self._on_waiting is not None and approval.id not in self._waited:
                if len(self._waited) >= 10_000:
                    self._waited.clear()
                self._waited.add(approval.id)
                self._on_waiting(approval)
            return approval
        if approval.id in self._told:
            return approval
        if len(self._told) >= 10_000:
            self._told.clear()
        self._told.add(approval.id)
        log.info("approval %s %s", approval.id, approval.summary)
        if self._on_decided is not None:
            self._on_decided(approval)
        return approval

    def _defaults(self, body: dict[str, Any], options: dict[str, Any], names: Sequence[str]) -> None:
        """Each of `names` into `body`: as given in `options` (taken out of them), else this client's own."""
        mine = {"channel": self.channel, "requester": self.requester, "agent": self.agent, "timeout": self.within,
                "run": self.run}
        for name in names:
            value = options.pop(name, None) or mine[name]
            if value:
                body[name] = value

    async def _post(self, path: str, body: dict[str, Any], idempotency_key: str | None) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}  # the same for every retry
        return await self._wire.call("POST", path, json=body, headers=headers)

    async def record_allowed(
        self,
        name: str,
        arguments: dict[str, Any],
        *,
        allowed_by: str,
        idempotency_key: str | None = None,
        channel: str = "",
        agent: str = "",
    ) -> AllowedCall:
        """Record in the bot's audit log that `name(arguments)` runs without a card because the program's own
        allow-list lets it through (`allowed_by` says what, e.g. "--allow list_*"). Nothing is asked or decided:
        this is the audit entry a card would have made. Retried like every call; a retry with the same
        `idempotency_key` adds no second entry."""
        body: dict[str, Any] = {"tool": {"name": name, "arguments": arguments}, "allowed_by": allowed_by}
        self._defaults(body, {"channel": channel, "agent": agent}, ("channel", "requester", "agent"))
        return AllowedCall.from_json(await self._post("/api/v1/audit/allowed", body, idempotency_key))

    async def evaluations(self, evaluations: Sequence[dict[str, Any]], **defaults: Any) -> list[dict[str, Any]]:
        """OpenID AuthZEN Access Evaluations (`POST /access/v1/evaluations`, docs/agents/authzen.md): each of
        `evaluations` (subject, action, resource, context), `defaults` (the same members, and `options`) filling in
        what one leaves out; the decisions, in the same order. Retried like every call."""
        body = {**{name: value for name, value in defaults.items() if value is not None},
                "evaluations": list(evaluations)}
        answer = await self._wire.call("POST", "/access/v1/evaluations", json=body)
        return list(answer.get("evaluations") or [])

    # reading -----------------------------------------------------------------------------------
    async def get(self, approval_id: str) -> Approval:
        return Approval.from_json(await self._wire.call("GET", f"/api/v1/approvals/{approval_id}"))

    async def wait(self, approval_id: str, *, at_most: float | None = None) -> Approval:
        """The approval once decided (long-polls, on any worker), or as it is after `at_most` seconds."""
        deadline = None if at_most is None else time.monotonic() + at_most
        while True:
            left = LONG_POLL if deadline is None else min(LONG_POLL, max(0.0, deadline - time.monotonic()))
            approval = self._tell(Approval.from_json(
                await self._wire.call("GET", f"/api/v1/approvals/{approval_id}", params={"wait": f"{left:.1f}"})
            ))
            if not approval.pending or (deadline is not None and time.monotonic() >= deadline):
                return approval

    async def use(self, approval_id: str, *, token: str | None = None) -> bool:
        """Use an approved call, right before running it: True the first time (and for a retry with the same
        `token`: one use of one decision, default this client's), False when it was used already: that use may
        have run it (its process died, perhaps mid-call), so do not run it on this approval (`approved_once` asks
        again, as a call that may have run). `spend` says the same with the bot's words for a model."""
        return (await self.spend(approval_id, token=token)).used

    async def spend(self, approval_id: str, *, token: str | None = None) -> Use:
        """`use`, answered as a `Use`: with the bot's words for a model (`Use.refusal`) when it was used already."""
        body = {"token": token or self._token}
        answer = await self._wire.call("POST", f"/api/v1/approvals/{approval_id}/use", json=body)
        used = answer.get("used") is True
        shown = Approval.from_json(answer) if isinstance(answer.get("id"), str) and answer.get("status") else None
        return Use(used, "" if used else str(answer.get("refusal") or not_run("used")), shown)

    async def withdraw(self, approval_id: str) -> Approval:
        """Withdraw a pending approval (its card says so). A decided one is returned as it is."""
        return Approval.from_json(await self._wire.call("DELETE", f"/api/v1/approvals/{approval_id}"))

    # an Approver ---------------------------------------------------------------------------------
    async def request(self, request: ApprovalRequest, cancellation_token: Cancellation | None = None) -> Decision:
        """Ask for `request` and wait for its decision. Cancelling the token withdraws it. Arguments that
        fail the tool's schema are not sent (the API refuses them): the call is rejected here, with why."""
        if request.kind == "tool_call" and request.schema_error:
            return Decision(request.approval_id, "rejected", decided_by="auto",
                            feedback=f"the arguments do not match the tool's schema: {request.schema_error}")
        options: dict[str, Any] = {"agent": request.author or self.agent}
        if request.kind == "tool_call":
            schema = json.loads(request.arguments_schema) if request.arguments_schema else None
            asked = await self.request_tool(
                request.tool_name, json.loads(request.arguments), schema=schema,
                editable=not request.fixed_arguments, idempotency_key=_idempotency(request), **options,
            )
        else:
            asked = await self.request_message(
                request.proposal, kind="code" if request.kind == "code" else "message",
                idempotency_key=_idempotency(request), **options,
            )
        if not asked.pending:
            return asked.decision()
        waiting = asyncio.ensure_future(self.wait(asked.id))
        if cancellation_token is not None:
            cancellation_token.link_future(waiting)
        try:
            return (await waiting).decision()
        except asyncio.CancelledError:
            with contextlib.suppress(ApprovalsError, httpx.HTTPError):
                await asyncio.shield(self.withdraw(asked.id))
            raise

    async def check(self) -> dict[str, Any]:
        """Whether the bot answers at this client's URL and takes its key, before anything is asked
        (`GET /api/v1/key`): the key's `id` (the `aud` of its receipts), `name` and `channels`. Raises
        `Unreachable` (nothing answers there), `BadKey` (the key is wrong or revoked), or `ApprovalsError` with
        code `not_the_api` (something else answers there), each one line."""
        return await self._wire.call("GET", f"{API_PATH}/key")

def _idempotency(request: ApprovalRequest) -> str:
    """One ask per approval id: a retry of `request` after a lost answer finds the first one."""
    return "ar-" + "".join(c if c.isalnum() or c in "_.:-" else "-" for c in request.approval_id)[:120]


class SyncApprovalsClient:
    """The same calls for programs without an event loop (each call runs the async client once)."""

    def __init__(self, url: str | Sequence[str], key: str, **options: Any) -> None:
        self._args = (url, key)
        self._options = options

    def _run(self, call: Callable[[ApprovalsClient], Awaitable[T]]) -> T:
        async def once() -> T:
            async with ApprovalsClient(*self._args, **self._options) as client:
                return await call(client)

        return asyncio.run(once())

    def request_tool(self, name: str, arguments: dict[str, Any], **options: Any) -> Approval:
        return self._run(lambda c: c.request_tool(name, arguments, **options))

    def request_message(self, text: str, **options: Any) -> Approval:
        return self._run(lambda c: c.request_message(text, **options))

    def get(self, approval_id: str) -> Approval:
        return self._run(lambda c: c.get(approval_id))

    def wait(self, approval_id: str, *, at_most: float | None = None) -> Approval:
        return self._run(lambda c: c.wait(approval_id, at_most=at_most))

    def withdraw(self, approval_id: str) -> Approval:
        return self._run(lambda c: c.withdraw(approval_id))

    def check(self) -> dict[str, Any]:
        return self._run(lambda c: c.check())
