"""A click answered to its person alone, under the card it was made on: ephemerally (`chat.postEphemeral`) or, when
Slack does not take that (an error after the client's retries, a timeout, Slack unreachable), through the click's own
`response_url` (an ephemeral reply that replaces nothing; Slack gives one with every click, good for 30 minutes and
five answers, no Web API token or rate tier). A click the bot did not apply is never left unanswered because one
Slack call failed: the person is told, or a WARNING line names who was not."""

from __future__ import annotations

import logging

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

log = logging.getLogger(__name__)

ANSWER_SECONDS = 10  # a response_url answer's timeout
FAILED = (SlackApiError, aiohttp.ClientError, TimeoutError)


def response_url_of(body: object) -> str:
    """The `response_url` of a click's payload (signed by Slack), or "" when it has none."""
    url = body.get("response_url") if isinstance(body, dict) else None
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) and len(url) <= 2048 else ""


async def tell_under_card(slack: AsyncWebClient, *, channel: str, user: str, text: str, response_url: str) -> None:
    """Tell `user` `text` under the card in `channel` they clicked: ephemerally, else through `response_url`."""
    try:
        await slack.chat_postEphemeral(channel=channel, user=user, text=text)
        return
    except FAILED as exc:
        why = str(exc.response.get("error", "")) if isinstance(exc, SlackApiError) else type(exc).__name__
        if not response_url:
            log.warning("%s was not told why their click did nothing: chat.postEphemeral failed (%s)", user, why)
            return
        log.warning("%s was not told under the card (chat.postEphemeral: %s): told through the click's response_url",
                    user, why)
    webhook = AsyncWebhookClient(response_url, timeout=ANSWER_SECONDS, session=getattr(slack, "session", None))
    try:
        answer = await webhook.send(text=text, response_type="ephemeral", replace_original=False)
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("%s was not told why their click did nothing: its response_url failed too (%s)", user,
                    type(exc).__name__)
        return
    if answer.status_code != 200:
        log.warning("%s was not told why their click did nothing: its response_url answered %d (%s)", user,
                    answer.status_code, str(answer.body)[:80])
