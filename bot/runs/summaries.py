"""One plain sentence of what an approval does, written by a model (#79.6), where MODEL_CONFIG names one: the model
of the bot's own `/agent` runs (bot/runs/models.py) reads the tool, its description, the deterministic sentence
(`bot.core.plain_summary`) and the change, its hidden values already hidden (bot/redaction/hiding.py: nothing hidden
ever reaches the model), and answers one sentence. The card labels it "Summary written by a model"
(bot/slack/blocks/claims.py). A model that fails, answers nothing or takes longer than SUMMARY_SECONDS: "" (the card
then says the deterministic sentence). Untrusted like any text the asker sent.

    ModelSummaries(config)   the writer; `await writer(tool=..., description=..., artifacts=..., plain=...)`
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

from autogen_core.models import ChatCompletionClient, SystemMessage, UserMessage

from bot.runs.models import load_model_client

log = logging.getLogger(__name__)

SUMMARY_SECONDS: Final = 5.0  # a model's sentence, at most this long in coming (the card waits for it)
SUMMARY_CHARS: Final = 300
CHANGE_CHARS: Final = 6000  # of the change the model reads, at most
PROMPT: Final = (
    "You write one plain sentence, for a reviewer who does not read code or diffs, saying what an action an AI agent"
    " asks to take will do. Say only what the change shows; never repeat the agent's claims as facts. One sentence,"
    " no markup, at most 30 words."
)


class ModelSummaries:
    """The model's one-sentence summaries (see the module docstring); the client is loaded once, at first use."""

    def __init__(self, config: Mapping[str, Any], *, within: float = SUMMARY_SECONDS) -> None:
        self._config = dict(config)
        self._within = within
        self._client: ChatCompletionClient | None = None

    async def __call__(
        self, *, tool: str, description: str, artifacts: Sequence[Mapping[str, Any]], plain: str
    ) -> str:
        """The model's sentence, or "" when it cannot say one in time (logged; the deterministic one stands)."""
        change = json.dumps(list(artifacts), ensure_ascii=False)[:CHANGE_CHARS]
        asked = json.dumps({"tool": tool, "tool_description": description, "plain_summary": plain,
                            "change": change}, ensure_ascii=False)
        try:
            if self._client is None:
                self._client = load_model_client(self._config)
            result = await asyncio.wait_for(
                self._client.create([SystemMessage(content=PROMPT), UserMessage(content=asked, source="approvals")]),
                self._within,
            )
        except Exception as exc:  # (any model's failure: the deterministic sentence stands)
            log.warning("the model wrote no summary (%s): the plain one stands", type(exc).__name__)
            return ""
        text = result.content if isinstance(result.content, str) else ""
        one = " ".join(text.split())
        return one if len(one) <= SUMMARY_CHARS else one[: SUMMARY_CHARS - 1] + "…"
