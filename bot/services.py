"""The parts of one worker, built once by `create_services()` and handed to the listeners."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from dataclasses import dataclass
from typing import Any

import aiohttp
from redis.asyncio import Redis
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from agents.models import resolve_model_config
from bot.cards import CardService
from bot.directory import Directory
from bot.library import model_cache, team_options
from bot.metrics import CountingWebClient, Metrics, counted
from bot.runs import RunManager
from bot.security import secrets_of
from bot.settings import Settings
from bot.store import ApprovalStore, DecideResult, cluster_prefix, connect, is_cluster_url
from bot.supervisor import Supervisor
from bot.tasks import Background
from bot.waiter import DeadlineSweeper, DecisionWaiter

log = logging.getLogger(__name__)


def new_worker_id() -> str:
    return f"{socket.gethostname()[:20]}-{os.getpid()}-{secrets.token_hex(3)}"


def create_slack_client(settings: Settings, metrics: Metrics) -> AsyncWebClient:
    """The Web API client, with bounded retries on connection errors, 429 (after `Retry-After`) and
    5xx; what still fails is counted (and, for cards, kept in the outbox)."""
    slack_logger = logging.getLogger("slack_sdk.web")
    if slack_logger.level == logging.NOTSET:  # slack_sdk formats debug strings unless a level is set
        slack_logger.setLevel(logging.INFO)
    client = CountingWebClient(
        logger=slack_logger,
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        timeout=15,
        retry_handlers=[
            counted(AsyncConnectionErrorRetryHandler(max_retry_count=2), metrics),
            counted(AsyncRateLimitErrorRetryHandler(max_retry_count=2), metrics),
            counted(AsyncServerErrorRetryHandler(max_retry_count=2), metrics),
        ],
    )
    client.metrics = metrics
    return client


@dataclass
class Services:
    settings: Settings
    worker_id: str
    redis: Redis
    store: ApprovalStore
    slack: AsyncWebClient
    cards: CardService
    directory: Directory
    waiter: DecisionWaiter
    sweeper: DeadlineSweeper
    runs: RunManager
    supervisor: Supervisor
    background: Background
    metrics: Metrics
    model_config: dict[str, Any]

    async def start(self) -> None:
        # one HTTP session for every Web API call (slack-sdk opens one per call otherwise)
        self.slack.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        await self.waiter.start()
        await self.sweeper.start()
        await self.supervisor.start()
        log.info("worker %s ready", self.worker_id)

    async def close(self) -> None:
        await self.runs.shutdown()
        await self.supervisor.stop()
        await self.sweeper.stop()
        await asyncio.gather(self.background.drain(), self.cards.close(grace=3.0))
        await self.waiter.stop()
        await self.redis.aclose()
        if self.slack.session is not None:
            await self.slack.session.close()


def create_services(settings: Settings, *, worker_id: str | None = None) -> Services:
    """Wire one worker's parts. Nothing connects until `start()`."""
    worker_id = worker_id or new_worker_id()
    model_config = resolve_model_config(
        model_config_path=settings.model_config_path, openai_api_key=settings.openai_api_key
    )
    redis = connect(settings.redis_url, command_timeout=settings.redis_timeout)
    prefix = cluster_prefix(settings.key_prefix) if is_cluster_url(settings.redis_url) else settings.key_prefix
    store = ApprovalStore(
        redis, prefix=prefix, audit_retention=settings.audit_retention, run_retention=settings.run_retention
    )
    # a click counts only if Redis runs it well before the worker stops waiting (and answers "try again")
    store.click_window = settings.redis_timeout * 0.75
    metrics = Metrics()
    slack = create_slack_client(settings, metrics)
    cards = CardService(slack, store=store)
    directory = Directory(slack, ttl=settings.usergroup_cache_seconds)
    background = Background()

    async def on_timed_out(result: DecideResult) -> None:
        assert result.approval is not None
        runs.after_decision(result.approval, owner_heard=result.owner_heard)

    sweeper = DeadlineSweeper(store, on_decided=on_timed_out)
    waiter = DecisionWaiter(store, worker_id, on_reconnect=metrics.redis_reconnects.inc)
    runs = RunManager(
        store=store,
        waiter=waiter,
        sweeper=sweeper,
        cards=cards,
        slack=slack,
        background=background,
        worker_id=worker_id,
        approvals_channel=settings.approvals_channel,
        default_timeout=settings.approval_timeout,
        model_config=model_config,
        metrics=metrics,
        team_options=team_options(settings),
        model_cache=model_cache(settings),
        max_runs_per_user=settings.max_runs_per_user,
        max_runs_per_channel=settings.max_runs_per_channel,
        secrets=secrets_of(settings),
        lease_seconds=settings.heartbeat_seconds,
    )
    waiter.set_control_handler(runs.on_control)
    return Services(
        settings=settings,
        worker_id=worker_id,
        redis=redis,
        store=store,
        slack=slack,
        cards=cards,
        directory=directory,
        waiter=waiter,
        sweeper=sweeper,
        runs=runs,
        supervisor=Supervisor(
            store=store,
            runs=runs,
            cards=cards,
            worker_id=worker_id,
            ttl=settings.heartbeat_seconds,
            scan_every=max(0.5, settings.heartbeat_seconds / 2),
        ),
        background=background,
        metrics=metrics,
        model_config=model_config,
    )
