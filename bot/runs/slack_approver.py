"""`SlackApprover`: the bot's approvals for any AutoGen program that is not a run of the bot.

It is an `agent_approvals.approver.Approver`: it asks through the same approval service as the bot's own runs
(bot/approvals/service.py), with the bot's token and Redis; the deployed bot handles the buttons, the Revise
modal and the timeout, exactly as for its own runs::

    async with SlackApprover.from_env(label="nightly report") as approver:
        proxy = ApprovalUserProxy("human", input_func=make_input_func(approver))
        send = require_approval(my_tool, approver, agent="assistant")
        ...

It shows up as a run (preset `library`) in its channel: `/agent status` lists it and its pending
approvals, `/agent cancel` cancels them. It keeps a worker heartbeat while it is open, so the bot
never takes its approvals over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

from agent_approvals.approver import ApprovalRequest, Decision
from autogen_core import CancellationToken
from redis.exceptions import RedisError
from slack_sdk.web.async_client import AsyncWebClient

from bot.approvals.card_sync import CardService
from bot.approvals.service import ApprovalService
from bot.approvals.threads import RunThreads
from bot.approvals.waiter import DecisionWaiter
from bot.core.ids import new_run_id, new_worker_id
from bot.core.records import RunRecord, RunStatus
from bot.core.settings import ApproverSettings
from bot.core.tasks import Background
from bot.slack.directory import Directory
from bot.store import Fenced, Store, connect

log = logging.getLogger(__name__)

LIBRARY_PRESET = "library"


class SlackApprover:
    """An `Approver` for AutoGen programs outside the bot (see the module docstring).

    Args:
        store: the bot's Redis store (same prefix as the bot).
        slack: a Web API client with the bot's token.
        approvals_channel: where cards go unless the origin channel's settings say otherwise.
        origin_channel: the channel this program reports to (its settings apply; default: the approvals channel).
        requester: the Slack user id the program acts for (self-approval rules apply to them).
        label: what the cards say the task is, e.g. "nightly report (reports.py)".
        default_timeout: seconds, unless the origin channel sets its own `timeout`.
        heartbeat_seconds: how long the bot waits after the program's last heartbeat before it
            treats the program as gone.
    """

    def __init__(
        self,
        *,
        store: Store,
        slack: AsyncWebClient,
        approvals_channel: str,
        origin_channel: str = "",
        requester: str = "",
        label: str = "AutoGen program",
        default_timeout: int = 600,
        heartbeat_seconds: float = 6.0,
        worker_id: str | None = None,
        owns_redis: bool = False,
    ) -> None:
        self.store = store
        self.slack = slack
        self.origin_channel = origin_channel or approvals_channel
        self.requester = requester
        self.label = label
        self.worker_id = worker_id or new_worker_id("lib")
        self._heartbeat_seconds = heartbeat_seconds
        self._owns_redis = owns_redis
        self._background = Background()
        self._waiter = DecisionWaiter(store, self.worker_id, on_control=self._on_control)
        self._approvals = ApprovalService(
            store=store,
            cards=CardService(slack),
            waiter=self._waiter,
            directory=Directory(slack),
            threads=RunThreads(slack, self._background),
            background=self._background,
            worker_id=self.worker_id,
            approvals_channel=approvals_channel,
            default_timeout=default_timeout,
        )
        self._beat: asyncio.Task[None] | None = None
        self._cancelled = False
        self.run: RunRecord | None = None

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        label: str = "AutoGen program",
        requester: str = "",
        origin_channel: str = "",
    ) -> SlackApprover:
        """From the bot's own variables (`bot.core.settings.ApproverSettings`): SLACK_BOT_TOKEN,
        APPROVALS_CHANNEL, REDIS_URL, REDIS_KEY_PREFIX, SLACK_API_URL, APPROVAL_TIMEOUT, HEARTBEAT_SECONDS."""
        settings = ApproverSettings.from_env(environ)
        return cls(
            store=Store(
                connect(settings.redis_url.get_secret_value(), command_timeout=settings.redis_timeout),
                prefix=settings.store_prefix,
            ),
            slack=AsyncWebClient(token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url),
            approvals_channel=settings.approvals_channel,
            origin_channel=origin_channel,
            requester=requester,
            label=label,
            default_timeout=settings.approval_timeout,
            heartbeat_seconds=settings.heartbeat_seconds,
            owns_redis=True,
        )

    @property
    def cancelled(self) -> bool:
        """Whether someone cancelled the program's run (`/agent cancel`): every request since is cancelled."""
        return self._cancelled

    @property
    def run_id(self) -> str:
        return self._started().id

    def _started(self) -> RunRecord:
        if self.run is None:
            raise RuntimeError("SlackApprover is not started: use `async with` or `await start()`")
        return self.run

    async def start(self) -> RunRecord:
        """Subscribe for decisions, start the heartbeat and record the program as a run."""
        await self.store.workers.beat(self.worker_id, ttl=self._heartbeat_seconds)
        self._beat = asyncio.create_task(self._heartbeat(), name="library-heartbeat")
        await self._waiter.start()
        run = RunRecord(
            id=new_run_id(),
            requester=self.requester,
            channel=self.origin_channel,
            task=self.label,
            preset=LIBRARY_PRESET,
            model="your program",
            status="running",
            owner=self.worker_id,
            created_at=time.time(),
            epoch=1,
        )
        admitted = await self.store.runs.create(run, max_per_user=10_000, max_per_channel=10_000)
        if admitted != "ok":
            raise RuntimeError(f"the bot refused to record this program as a run: {admitted}")
        self.run = run
        return run

    async def close(self, *, status: RunStatus = "completed", reason: str = "") -> None:
        """End the program's run (its pending approvals stay as they are), stop waiting and beating."""
        try:
            if self.run is not None and not self._cancelled:
                await self.store.runs.finish(self.run, status=status, reason=reason)
        finally:
            if self._beat is not None:
                self._beat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._beat
            await self._waiter.stop()
            await self._background.drain()
            with contextlib.suppress(RedisError, OSError):
                await self.store.workers.drop(self.worker_id)
            if self._owns_redis:
                await self.store.redis.aclose()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        failed = error is not None and not isinstance(error, asyncio.CancelledError | KeyboardInterrupt)
        await self.close(status="failed" if failed else "completed", reason=type(error).__name__ if failed else "")

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_seconds / 3)
            try:
                await self.store.workers.beat(self.worker_id, ttl=self._heartbeat_seconds)
            except (RedisError, OSError) as exc:
                log.warning("library heartbeat failed (%s)", type(exc).__name__)

    async def _on_control(self, message: dict[str, Any]) -> None:
        if message.get("t") == "cancel_run" and self.run is not None and message.get("run") == self.run.id:
            self._cancelled = True  # the bot cancels the pending approvals themselves

    # Approver -------------------------------------------------------------------------------
    async def request(self, request: ApprovalRequest, cancellation_token: CancellationToken | None) -> Decision:
        """Post a card for `request` and wait for the deployed bot to decide it."""
        run = self._started()
        latest = await self.store.runs.get(run.id)
        if latest is None or latest.status == "cancelled":
            self._cancelled = True  # `/agent cancel` (its control message may still be on its way)
        if self._cancelled:
            return Decision(request.approval_id, "cancelled", decided_by="system", feedback="the run was cancelled")
        try:
            return await self._approvals.ask(
                request, run=run, fence=(self.worker_id, run.epoch), tokens=(cancellation_token,)
            )
        except Fenced:  # nobody takes a program's run over while it beats; its record may have been removed
            return Decision(request.approval_id, "cancelled", decided_by="system", feedback="the run is gone")

    async def auto_approved(self, request: ApprovalRequest, *, rule: str) -> None:
        if self.run is not None:
            await self._approvals.audit_automatic("auto_approved", request, rule=rule, run=self.run)

    async def auto_rejected(self, request: ApprovalRequest, *, rule: str) -> None:
        if self.run is not None:
            await self._approvals.audit_automatic("auto_rejected", request, rule=rule, run=self.run)
