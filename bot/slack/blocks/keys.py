"""The replies of `/agent keys`: the API keys of a channel, and a new key shown once. Pure."""

from __future__ import annotations

import time
from collections.abc import Sequence

from bot.core.key_records import ApiKey, NewKey
from bot.slack.blocks.text import channel_ref, escape, user_ref


def keys_text(channel: str, keys: Sequence[ApiKey]) -> str:
    if not keys:
        return (
            f"No API key may ask in {channel_ref(channel)}. An admin makes one with `/agent keys create <name>`"
            " (or an operator with `python -m bot keys create`)."
        )
    lines = [f"*API keys that may ask in {channel_ref(channel)}*"]
    for key in keys:
        when = time.strftime("%Y-%m-%d", time.gmtime(key.created_at))
        by = user_ref(key.created_by) if key.created_by != "cli" else "an operator"
        channels = ", ".join(channel_ref(c) for c in key.channels)
        lines.append(
            f"• `{escape(key.name)}`: {channels}; made by {by} on {when}; at most {key.max_pending} pending,"
            f" {key.per_minute} requests a minute"
        )
    return "\n".join(lines)


def key_created_text(made: NewKey, *, url: str = "") -> str:
    """The key and its webhook secret, once (this reply is ephemeral: only its creator sees it), and the URL a
    program asks at (`PUBLIC_URL`), or what to set when the worker does not know it."""
    where = (
        f"• `AGENT_APPROVALS_URL={escape(url)}`"
        if url
        else "• `AGENT_APPROVALS_URL`: set it to your bot's URL (where Slack reaches it, without `/slack/events`)"
    )
    return (
        f"Made the API key `{escape(made.record.name)}` for {channel_ref(made.record.channels[0])}. Copy both now:"
        " they are not shown again (only a hash of the key is kept).\n"
        f"• Key: `{made.key}`\n• Webhook secret: "
        + (f"`{made.record.webhook_secret}`\n" if made.record.webhook_secret else
           "none (the bot has no SECRETS_KEY to keep it sealed: the key asks and waits, no webhook is sent)\n")
        + f"• Key id (its receipts' `aud`, for executors to pin): `{made.record.id}`\n"
        f"{where}\n"
        "A program asks with `Authorization: Bearer <key>` (`AGENT_APPROVALS_KEY` for the `agent_approvals`"
        " package; see docs/agents/api.md)."
    )
