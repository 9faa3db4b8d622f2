"""Team presets. Each preset builds a fresh AutoGen team around our human (the user proxy).

The human's verdicts end the run: only messages *from the human* count, so an assistant that
writes "reply APPROVE to send" cannot end it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.base import TerminatedException, TerminationCondition
from autogen_agentchat.conditions import MaxMessageTermination
from autogen_agentchat.messages import BaseAgentEvent, BaseChatMessage, StopMessage
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_core.models import ChatCompletionClient

from agents.input_func import ApprovalUserProxy, AsyncInputFunc

HUMAN = "human"
ASSISTANT = "assistant"
DEFAULT_MAX_MESSAGES = 40

WRITER_SYSTEM_MESSAGE = (
    "You are a careful assistant. Draft what the user asks for. A human reviews every draft: "
    "when they give feedback, produce a complete revised draft that applies it. Reply with the draft only."
)


class HumanVerdictTermination(TerminationCondition):
    """Stops when a message from one of `sources` starts with APPROVE or REJECT."""

    def __init__(self, sources: Sequence[str], verdicts: Sequence[str] = ("APPROVE", "REJECT")) -> None:
        self._sources = set(sources)
        self._verdicts = tuple(verdicts)
        self._terminated = False

    @property
    def terminated(self) -> bool:
        return self._terminated

    async def __call__(self, messages: Sequence[BaseAgentEvent | BaseChatMessage]) -> StopMessage | None:
        if self._terminated:
            raise TerminatedException("Termination condition has already been reached")
        for message in messages:
            if not isinstance(message, BaseChatMessage) or message.source not in self._sources:
                continue
            words = message.to_text().split(maxsplit=1)
            verdict = words[0].rstrip(":") if words else ""
            if verdict in self._verdicts:
                self._terminated = True
                return StopMessage(content=f"{message.source} said {verdict}", source="HumanVerdictTermination")
        return None

    async def reset(self) -> None:
        self._terminated = False


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    description: str


PRESETS: dict[str, Preset] = {
    "writer": Preset("writer", "an assistant drafts; a human approves, rejects or asks for a revision of every draft"),
}
DEFAULT_PRESET = "writer"


def build_team(
    preset: str,
    *,
    model_client: ChatCompletionClient,
    input_func: AsyncInputFunc,
    max_messages: int = DEFAULT_MAX_MESSAGES,
) -> RoundRobinGroupChat:
    """A fresh team for `preset`, whose human turns go through `input_func`."""
    if preset not in PRESETS:
        raise ValueError(f"unknown team {preset!r}; valid: {', '.join(PRESETS)}")
    assistant = AssistantAgent(ASSISTANT, model_client=model_client, system_message=WRITER_SYSTEM_MESSAGE)
    human = ApprovalUserProxy(HUMAN, description="The human reviewer, reached through Slack", input_func=input_func)
    termination = HumanVerdictTermination(sources=[HUMAN]) | MaxMessageTermination(max_messages)
    return RoundRobinGroupChat([assistant, human], termination_condition=termination)
