"""ALERTS_CHANNEL, checked as `auth.test` is: a channel the bot is in, or its alerts would be lost. Slack's word at
start-up decides (a channel Slack does not know, or one the bot is not in, stops the start: a setting to mend); no
answer (Slack unreachable, a 5xx, a timeout) never does: the worker starts, is not ready (`/readyz` says "alerts"),
and `check` is asked again in the background until Slack answers (bot/probes.py). Slack refusing the bot token
itself (`token_revoked`, `invalid_auth`...) is the token's fault, not the channel's: said so, naming SLACK_BOT_TOKEN,
and never stops the start (the Approvals API and Teams serve on, #87); the channel is asked again meanwhile."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.settings import SettingsError
from bot.slack.workspaces import TOKEN_GONE

log = logging.getLogger(__name__)


class AlertsChannel:
    """What Slack said last of ALERTS_CHANNEL (`word`: "off", "ok: C…", or why it is not usable yet)."""

    def __init__(self, slack: AsyncWebClient, channel: str) -> None:
        self._slack = slack
        self._asking = asyncio.Lock()
        self.channel = channel
        self.checked = not channel
        self.word = "off" if not channel else "not checked: Slack has not answered conversations.info yet"

    async def check(self, *, starting: bool = False) -> bool:
        """Ask Slack about the channel; True once Slack has answered (usable or not). With `starting`, Slack's
        refusal raises a SettingsError naming ALERTS_CHANNEL (the start stops); later it is said in `word`."""
        async with self._asking:  # one question at a time (start-up's and the background's)
            return await self._check(starting=starting)

    async def _check(self, *, starting: bool) -> bool:
        if self.checked:
            return True
        try:
            info = (await self._slack.conversations_info(channel=self.channel)).get("channel") or {}
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            refused = answered_error(exc)
            if refused in TOKEN_GONE:
                return self._token_refused(refused)
            if refused is None:
                log.warning("ALERTS_CHANNEL %s: Slack did not answer conversations.info (%s); not ready, asked again"
                            " in the background", self.channel, type(exc).__name__)
                return False
            return self._refused(f"ALERTS_CHANNEL {self.channel}: Slack says {refused}; give the id of a channel"
                                 " the bot is in", starting=starting)
        if not info.get("is_member"):
            return self._refused(f"ALERTS_CHANNEL {self.channel}: the bot is not in this channel; invite it"
                                 " (/invite @bot) or name another", starting=starting)
        self.checked, self.word = True, f"ok: {self.channel}"
        return True

    def _token_refused(self, refused: str) -> bool:
        """Slack refused the bot token: the token is the problem, the channel is not checked (asked again)."""
        if self.word != (word := f"not checked: Slack refuses SLACK_BOT_TOKEN ({refused})"):
            log.error("Slack refuses SLACK_BOT_TOKEN (%s): replace the bot token (revoked, or the app uninstalled);"
                      " ALERTS_CHANNEL %s is not checked until Slack accepts it, and alerts to Slack are not sent"
                      " meanwhile (ALERT_WEBHOOK_URL's are)", refused, self.channel)
        self.word = word
        return False

    @property
    def ready(self) -> bool:
        return self.word.startswith(("ok", "off"))

    def _refused(self, why: str, *, starting: bool) -> bool:
        if starting:
            raise SettingsError(why)
        self.checked, self.word = True, why
        log.error("%s", why)
        return True


def answered_error(exc: BaseException) -> str | None:
    """Slack's error code when it answered (an `ok: false` body), None when it did not (no connection, a timeout, a
    5xx or 429 without Slack's answer)."""
    if not isinstance(exc, SlackApiError):
        return None
    data = exc.response.data if isinstance(exc.response.data, dict) else {}
    error = data.get("error")
    if not error or error in ("ratelimited", "fatal_error", "internal_error", "request_timeout", "service_unavailable"):
        return None
    return str(error)
