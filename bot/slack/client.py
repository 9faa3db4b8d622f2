"""The Slack Web API client of a worker: bounded retries, and every retry and error counted."""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.core.metrics import Metrics
from bot.core.settings import ApproverSettings

MAX_RETRIES = 2  # per kind of failure, for each call
TIMEOUT_SECONDS = 15


class CountingRetryHandler(AsyncRetryHandler):
    """Retries what `handler` retries, as `handler` does, and counts each retry it makes in
    `hitl_slack_api_retries_total{handler=label}`.

    `label` defaults to the handler's class name without `Async` and `RetryHandler`
    (`AsyncRateLimitErrorRetryHandler` counts as "RateLimitError").
    """

    def __init__(self, handler: AsyncRetryHandler, metrics: Metrics, *, label: str = "") -> None:
        super().__init__(max_retry_count=handler.max_retry_count, interval_calculator=handler.interval_calculator)
        self.handler = handler
        self.label = label or type(handler).__name__.removeprefix("Async").removesuffix("RetryHandler") or "retry"
        self._metrics = metrics

    async def can_retry_async(self, **call: Any) -> bool:
        """As `handler` answers (the call's `state`, `request`, `response` and `error` passed through)."""
        return await self.handler.can_retry_async(**call)

    async def prepare_for_next_attempt_async(self, *, state: RetryState, **call: Any) -> None:
        """As `handler` waits, then counted: the wait for 429s, and the retry when the call goes again."""
        began = time.monotonic()
        await self.handler.prepare_for_next_attempt_async(state=state, **call)
        if self.label == "RateLimitError":
            self._metrics.slack_rate_wait.inc(time.monotonic() - began)
        if state.next_attempt_requested:  # it waited (backoff, `Retry-After`) and the call goes again
            self._metrics.slack_retries.labels(self.label).inc()


def retry_handlers(
    metrics: Metrics, *, max_retries: int = MAX_RETRIES, retry_429: bool = True
) -> list[AsyncRetryHandler]:
    """Retries of connection errors, of 429 (after the `Retry-After` Slack sends; not without `retry_429`) and of
    500/503, each at most `max_retries` times per call, counted as "ConnectionError", "RateLimitError" and
    "ServerError"."""
    handlers: list[AsyncRetryHandler] = [
        AsyncConnectionErrorRetryHandler(max_retry_count=max_retries),
        *([AsyncRateLimitErrorRetryHandler(max_retry_count=max_retries)] if retry_429 else []),
        AsyncServerErrorRetryHandler(max_retry_count=max_retries),
    ]
    return [CountingRetryHandler(handler, metrics) for handler in handlers]


class CountingWebClient(AsyncWebClient):
    """The Web API client, counting the errors Slack returns (after retries) in
    `hitl_slack_api_errors_total{method, error}`."""

    metrics: Metrics | None = None

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        if self.metrics is not None:
            self.metrics.slack_calls.labels(api_method).inc()
        try:
            return await super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            if self.metrics is not None:
                self.metrics.slack_errors.labels(api_method, str(exc.response.get("error", "unknown"))).inc()
            raise


def create_slack_client(settings: ApproverSettings, metrics: Metrics, *, retry_429: bool = True) -> CountingWebClient:
    """The worker's Web API client (`retry_handlers`); what still fails is counted (and, for cards,
    kept in the outbox)."""
    return create_workspace_client(settings, metrics, token=settings.slack_bot_token.get_secret_value(),
                                   retry_429=retry_429)


def create_workspace_client(
    settings: ApproverSettings, metrics: Metrics, *, token: str, retry_429: bool = True
) -> CountingWebClient:
    """A Web API client for one installation's token, with retry handlers of its own: a 429 is slept through
    in that workspace's calls only (`bot.slack.workspaces.Workspaces.for_team` keeps one per workspace); without
    `retry_429`, a 429 is the caller's (the Homes' queue pauses for its Retry-After instead)."""
    slack_logger = logging.getLogger("slack_sdk.web")
    if slack_logger.level == logging.NOTSET:  # slack_sdk formats debug strings unless a level is set
        slack_logger.setLevel(logging.INFO)
    client = CountingWebClient(
        logger=slack_logger,
        token=token,
        base_url=settings.slack_api_url,
        timeout=TIMEOUT_SECONDS,
        retry_handlers=retry_handlers(metrics, retry_429=retry_429),
    )
    client.metrics = metrics
    return client
