"""The bot's side of `agents/` outside the run manager: approvals for any AutoGen program, and glue.

`SlackApprover` is an `agents.approver.Approver` for programs that are not runs of the bot: it
posts the card with the bot's token, stores the approval in the same Redis, and waits for the
decision there. The deployed bot handles the buttons, the Revise modal and the timeout, exactly as
for its own runs::

    async with SlackApprover.from_env(label="nightly report") as approver:
        proxy = ApprovalUserProxy("human", input_func=make_input_func(approver))
        send = require_approval(my_tool, approver, agent="assistant")
        ...

It shows up as a run (preset `library`) in its channel: `/agent status` lists it and its pending
approvals, `/agent cancel` cancels them. It keeps a worker heartbeat while it is open, so the bot
never takes its approvals over.

Also here: the run's input policy from channel settings, the approval fields of a request, the
audit entries of automatic decisions, team options and the model response cache from settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Mapping
from dataclasses import replace
from types import TracebackType
from typing import Any, Self

import redis as sync_redis
from autogen_core import CancellationToken
from autogen_ext.cache_store.redis import RedisStore
from autogen_ext.models.cache import CHAT_CACHE_VALUE_TYPE
from redis.exceptions import RedisError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from agents.approver import ApprovalRequest, Decision
from agents.modes import InputPolicy, parse_mode
from agents.teams import TeamOptions
from bot.blocks import proposal_is_cut
from bot.cards import CardService
from bot.durations import DurationError, format_duration, parse_duration
from bot.records import ApprovalRecord, ChannelSettings, RunRecord
from bot.settings import DEFAULT_SLACK_API_URL, Settings
from bot.store import ApprovalStore, Fence, Fenced, connect, persistently
from bot.waiter import DecisionWaiter

log = logging.getLogger(__name__)

LIBRARY_PRESET = "library"
MODEL_CACHE_TTL = 7 * 86400
_RUN_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"


# glue used by the run manager -----------------------------------------------------------------
def policy_for(mode: str | None, settings: ChannelSettings) -> InputPolicy:
    """A run's input policy: its mode (`--mode`, else the channel's) and the channel's knobs."""
    return InputPolicy(
        mode=parse_mode(mode or settings.mode),
        max_auto_replies=settings.max_auto_replies,
        risk_words=settings.risk_words,
        checkpoint_every=settings.checkpoint_every,
    )


def new_approval(
    request: ApprovalRequest,
    *,
    settings: ChannelSettings,
    run_id: str,
    owner: str,
    requester: str,
    origin_channel: str,
    task: str,
    default_channel: str,
) -> ApprovalRecord:
    """A pending approval for `request`, under the origin channel's settings (timeout, who may decide)."""
    now = time.time()
    return ApprovalRecord(
        id=request.approval_id,
        run_id=run_id,
        owner=owner,
        requester=requester,
        origin_channel=origin_channel,
        card_channel=settings.approvals_channel or default_channel,
        task=task,
        proposal=request.proposal,
        author=request.author,
        created_at=now,
        deadline=now + settings.timeout,
        timeout_seconds=settings.timeout,
        # a timeout approves tool calls and code only where the channel says so explicitly
        timeout_outcome=settings.timeout_outcome
        if request.kind == "message" or settings.timeout_approves_tools
        else "reject",
        required_approvals=settings.required_approvals,
        approvers=settings.approvers_spec,
        allow_self_approval=int(settings.allow_self_approval),
        **approval_fields(request),
    )


async def open_approval(
    store: ApprovalStore,
    cards: CardService,
    approval: ApprovalRecord,
    *,
    checkpoint: str | None,
    fence: Fence | None = None,
) -> tuple[str, str]:
    """Store a pending approval, post its card (the whole proposal in the card's thread when the card
    shows it cut) and mark its run waiting. Every Redis step is tried again through a Redis blip, and
    is fenced: if `fence` no longer owns the run, `Fenced` is raised before anything is posted. If Slack
    refuses the card, the approval is cancelled and RuntimeError says why. Returns the card's
    (channel, ts)."""
    what = f"opening approval {approval.id}"
    created = await persistently(lambda: store.create_approval(approval, checkpoint=checkpoint, fence=fence), what=what)
    if created == "fenced":
        raise Fenced(approval.run_id)
    try:
        channel, ts = await cards.post(approval)
    except SlackApiError as exc:
        await store.decide(approval.id, outcome="cancelled", by="system", feedback="card not posted")
        raise RuntimeError(f"could not post the approval card: {exc.response.get('error')}") from None
    return await show_posted_card(store, cards, approval, channel=channel, ts=ts, fence=fence)


async def show_posted_card(
    store: ApprovalStore,
    cards: CardService,
    approval: ApprovalRecord,
    *,
    channel: str,
    ts: str,
    fence: Fence | None = None,
) -> tuple[str, str]:
    """Note a posted card in Redis (through a blip: a decided approval's card is then redrawn) and
    attach the full proposal when the card shows it cut. If another card shows the approval already
    (posted again by another worker while this one looked dead), this one is removed."""
    what = f"attaching the card of approval {approval.id}"
    attached = await persistently(lambda: store.attach_card(approval.id, channel=channel, ts=ts), what=what)
    if attached == "other":  # the run goes on waiting, for the other card
        await cards.remove(channel=channel, ts=ts)
        return channel, ts
    if proposal_is_cut(approval.proposal):
        await cards.attach_full_text(approval, channel=channel, ts=ts)
    marked = await persistently(lambda: store.update_run(approval.run_id, fence=fence, status="waiting"), what=what)
    if marked == "fenced":
        raise Fenced(approval.run_id)
    return channel, ts


def approval_fields(request: ApprovalRequest) -> dict[str, Any]:
    """The `ApprovalRecord` fields that describe what `request` asks about (kind, tool call, digest)."""
    return {
        "kind": request.kind,
        "tool_name": request.tool_name,
        "arguments": request.arguments,
        "arguments_schema": request.arguments_schema,
        "digest": request.digest,
        "schema_error": request.schema_error,
        "why": request.why,
        "edited_by": request.edited_by,
    }


def bind_decision(decision: Decision, approval: ApprovalRecord) -> Decision:
    """The decision, bound to the digest stored with its approval (what the reviewer saw)."""
    return replace(decision, digest=approval.digest)


async def audit_automatic(
    store: ApprovalStore, event: str, request: ApprovalRequest, *, rule: str, run: RunRecord
) -> None:
    """An `auto_approved` / `auto_rejected` audit entry: what the input mode let through or refused, and why."""
    await store.audit(
        event,
        approval=request.approval_id,
        run=run.id,
        by="auto",
        outcome="approved" if event == "auto_approved" else "rejected",
        rule=rule[:500],
        kind=request.kind,
        tool=request.tool_name,
        origin_channel=run.channel,
    )


def team_options(settings: Settings) -> TeamOptions:
    return TeamOptions(
        outbox_dir=settings.outbox_dir,
        code_execution=settings.enable_code_execution,
        code_work_dir=settings.code_work_dir,
        code_timeout=settings.code_timeout,
    )


class RedisModelCache(RedisStore[CHAT_CACHE_VALUE_TYPE]):
    """autogen-ext's `RedisStore` for `ChatCompletionCache`, with our key prefix and an expiry.

    It is synchronous (that is the `CacheStore` interface): one GET before and one SET after each
    model call, on the loopback or private network Redis is on.
    """

    def __init__(self, client: sync_redis.Redis, *, prefix: str, ttl: int = MODEL_CACHE_TTL) -> None:
        super().__init__(client)
        self._prefix = f"{prefix}:modelcache:"
        self._ttl = ttl

    def get(self, key: str, default: CHAT_CACHE_VALUE_TYPE | None = None) -> CHAT_CACHE_VALUE_TYPE | None:
        return super().get(self._prefix + key, default)

    def set(self, key: str, value: CHAT_CACHE_VALUE_TYPE) -> None:
        super().set(self._prefix + key, value)
        with contextlib.suppress(RedisError, OSError):
            self.cache.expire(self._prefix + key, self._ttl)


def model_cache(settings: Settings) -> RedisModelCache | None:
    """The model response cache when `MODEL_CACHE` is on, else None."""
    if not settings.model_cache:
        return None
    client = sync_redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
    return RedisModelCache(client, prefix=settings.key_prefix)


# the library's approver -----------------------------------------------------------------------
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
        store: ApprovalStore,
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
        self.approvals_channel = approvals_channel
        self.origin_channel = origin_channel or approvals_channel
        self.requester = requester
        self.label = label
        self.default_timeout = default_timeout
        self.worker_id = worker_id or f"lib-{socket.gethostname()[:16]}-{os.getpid()}-{secrets.token_hex(3)}"
        self._heartbeat_seconds = heartbeat_seconds
        self._owns_redis = owns_redis
        self._cards = CardService(slack)
        self._waiter = DecisionWaiter(store, self.worker_id)
        self._waiter.set_control_handler(self._on_control)
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
        """From the bot's own variables: SLACK_BOT_TOKEN, APPROVALS_CHANNEL, REDIS_URL, SLACK_API_URL,
        REDIS_KEY_PREFIX, APPROVAL_TIMEOUT and HEARTBEAT_SECONDS."""
        env = os.environ if environ is None else environ
        token = env.get("SLACK_BOT_TOKEN", "").strip()
        approvals = env.get("APPROVALS_CHANNEL", "").strip()
        if not token or not approvals:
            raise ValueError("SlackApprover needs SLACK_BOT_TOKEN and APPROVALS_CHANNEL (the bot's own values)")
        try:
            timeout = parse_duration(env.get("APPROVAL_TIMEOUT", "") or "10m")
        except DurationError as exc:
            raise ValueError(f"APPROVAL_TIMEOUT: {exc}") from None
        api_url = env.get("SLACK_API_URL", "").strip() or DEFAULT_SLACK_API_URL
        return cls(
            store=ApprovalStore(
                connect(env.get("REDIS_URL", "").strip() or "redis://localhost:6379/0"),
                prefix=env.get("REDIS_KEY_PREFIX", "hitl"),
            ),
            slack=AsyncWebClient(token=token, base_url=api_url if api_url.endswith("/") else api_url + "/"),
            approvals_channel=approvals,
            origin_channel=origin_channel,
            requester=requester,
            label=label,
            default_timeout=timeout,
            heartbeat_seconds=float(env.get("HEARTBEAT_SECONDS", "") or 6),
            owns_redis=True,
        )

    @property
    def cancelled(self) -> bool:
        """Whether someone cancelled the program's run (`/agent cancel`): every request since is cancelled."""
        return self._cancelled

    @property
    def run_id(self) -> str:
        if self.run is None:
            raise RuntimeError("SlackApprover is not started: use `async with` or `await start()`")
        return self.run.id

    async def start(self) -> RunRecord:
        """Subscribe for decisions, start the heartbeat and record the program as a run."""
        await self.store.beat(self.worker_id, ttl=self._heartbeat_seconds)
        self._beat = asyncio.create_task(self._heartbeat(), name="library-heartbeat")
        await self._waiter.start()
        run = RunRecord(
            id="r" + "".join(secrets.choice(_RUN_ID_ALPHABET) for _ in range(7)),
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
        admitted = await self.store.create_run(run, max_per_user=10_000, max_per_channel=10_000)
        if admitted != "ok":
            raise RuntimeError(f"the bot refused to record this program as a run: {admitted}")
        self.run = run
        return run

    async def close(self, *, status: str = "completed", reason: str = "") -> None:
        """End the program's run (its pending approvals stay as they are), stop waiting and beating."""
        try:
            if self.run is not None and not self._cancelled:
                await self.store.finish_run(self.run, status=status, reason=reason)
        finally:
            if self._beat is not None:
                self._beat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._beat
            await self._waiter.stop()
            with contextlib.suppress(RedisError, OSError):
                await self.store.drop_heartbeat(self.worker_id)
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
                await self.store.beat(self.worker_id, ttl=self._heartbeat_seconds)
            except (RedisError, OSError) as exc:
                log.warning("library heartbeat failed (%s)", type(exc).__name__)

    async def _on_control(self, message: dict[str, Any]) -> None:
        if message.get("t") == "cancel_run" and self.run is not None and message.get("run") == self.run.id:
            self._cancelled = True  # the bot cancels the pending approvals themselves

    # Approver -------------------------------------------------------------------------------
    async def request(self, request: ApprovalRequest, cancellation_token: CancellationToken | None) -> Decision:
        """Post a card for `request` and wait for the deployed bot to decide it."""
        run = self.run
        if run is None:
            raise RuntimeError("SlackApprover is not started: use `async with` or `await start()`")
        latest = await self.store.get_run(run.id)
        if latest is None or latest.status == "cancelled":
            self._cancelled = True  # `/agent cancel` (its control message may still be on its way)
        if self._cancelled:
            return Decision(request.approval_id, "cancelled", decided_by="system", feedback="the run was cancelled")
        settings = await self.store.channel_settings(self.origin_channel, default_timeout=self.default_timeout)
        approval = new_approval(
            request,
            settings=settings,
            run_id=run.id,
            owner=self.worker_id,
            requester=self.requester,
            origin_channel=self.origin_channel,
            task=self.label,
            default_channel=self.approvals_channel,
        )
        future = self._waiter.expect(approval.id)
        try:
            await open_approval(
                self.store, self._cards, approval, checkpoint=request.checkpoint, fence=(self.worker_id, run.epoch)
            )
            if cancellation_token is not None:
                cancellation_token.link_future(future)
            decision = await future
        finally:
            self._waiter.forget(approval.id)
        if decision.outcome == "cancelled":
            return decision
        decided = await self.store.consume(run.id, approval.id, fence=(self.worker_id, run.epoch))
        decided = decided or await self.store.get_approval(approval.id)
        if decision.outcome == "timed_out" and not decision.feedback:
            decision = replace(decision, feedback=f"no decision within {format_duration(settings.timeout)}")
        return bind_decision(decision, decided) if decided is not None else decision

    async def auto_approved(self, request: ApprovalRequest, *, rule: str) -> None:
        if self.run is not None:
            await audit_automatic(self.store, "auto_approved", request, rule=rule, run=self.run)

    async def auto_rejected(self, request: ApprovalRequest, *, rule: str) -> None:
        if self.run is not None:
            await audit_automatic(self.store, "auto_rejected", request, rule=rule, run=self.run)
