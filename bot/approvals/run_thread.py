"""A run's messages in Slack: its header (status) and its thread, posted in order."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.records import RunRecord
from bot.core.tasks import Background
from bot.slack.blocks import build_run_header_blocks, run_fallback_text

log = logging.getLogger(__name__)


class RunThreads:
    """Posts in runs' threads, each thread's messages in the order they were asked for."""

    def __init__(self, slack: AsyncWebClient, background: Background) -> None:
        self._slack = slack
        self._background = background
        self._tail: dict[str, asyncio.Task[None]] = {}

    def post(self, run: RunRecord, *, text: str, blocks: list[dict[str, Any]] | None = None) -> asyncio.Task[None]:
        """Post in the run's thread after everything posted there before (await it, or not). A run
        without a header (the run of an API key's approvals) has no thread: nothing is posted."""
        previous = self._tail.get(run.id)

        async def post() -> None:
            if previous is not None:
                await asyncio.wait([previous])
            await self._post_now(run, text=text, blocks=blocks)
            if self._tail.get(run.id) is task:
                del self._tail[run.id]

        task: asyncio.Task[None] = self._background.spawn(post(), name=f"thread-{run.id}")
        self._tail[run.id] = task
        return task

    async def _post_now(self, run: RunRecord, *, text: str, blocks: list[dict[str, Any]] | None) -> None:
        if not run.header_ts:
            return
        try:
            await self._slack.chat_postMessage(
                channel=run.channel, thread_ts=run.header_ts, text=text, blocks=blocks, unfurl_links=False
            )
        except SlackApiError as exc:
            log.error("thread post failed for %s: %s", run.id, exc.response.get("error"), extra={"run_id": run.id})

    async def post_header(self, run: RunRecord) -> str:
        """Post the run's header message; its ts."""
        header = await self._slack.chat_postMessage(
            channel=run.channel, text=run_fallback_text(run), blocks=build_run_header_blocks(run)
        )
        return str(header["ts"])

    async def update_header(self, run: RunRecord) -> None:
        if not run.header_ts:
            return
        try:
            await self._slack.chat_update(
                channel=run.channel, ts=run.header_ts, text=run_fallback_text(run), blocks=build_run_header_blocks(run)
            )
        except SlackApiError as exc:
            log.error(
                "run header update failed for %s: %s", run.id, exc.response.get("error"), extra={"run_id": run.id}
            )
