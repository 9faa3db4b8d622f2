"""Agent sessions as the tests read them from the local Slack: the streaming calls made, the chunks they carried,
and what Slack's 256 characters count in a chunk."""

from __future__ import annotations

from typing import Any, Final

from bot.devslack.server import SlackStandIn

STREAM_METHODS: Final = ("chat.startStream", "chat.appendStream", "chat.stopStream")


def stream_calls(slack: SlackStandIn) -> list[Any]:
    """The streaming calls made so far (start, append, stop), in order."""
    return [c for c in slack.calls() if c.method in STREAM_METHODS]


def sent_chunks(slack: SlackStandIn) -> list[dict[str, Any]]:
    """Every chunk the streaming calls carried, in order."""
    return [chunk for c in stream_calls(slack) for chunk in c.args.get("chunks") or []]


def chunk_text(chunk: dict[str, Any]) -> int:
    """The characters of a chunk that the bot keeps within its 256: its title, details and output together."""
    return sum(len(str(chunk.get(key) or "")) for key in ("title", "details", "output"))
