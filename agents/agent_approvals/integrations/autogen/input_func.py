"""The bridge from AutoGen's `UserProxyAgent` to an `Approver`.

`UserProxyAgent` only passes its input function a prompt ("Enter your response: "), so the
card's content must come from the conversation. `ApprovalUserProxy` keeps the messages it was
given for the duration of its turn; the input function reads them from there.

Usage::

    proxy = ApprovalUserProxy("human", input_func=make_input_func(approver, save_state=team.save_state))
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from agent_approvals._extras import missing_extra

try:
    from autogen_agentchat.agents import UserProxyAgent
    from autogen_agentchat.base import Response
    from autogen_agentchat.messages import BaseAgentEvent, BaseChatMessage
    from autogen_core import CancellationToken
except ImportError as exc:  # the extra is not installed
    raise missing_extra(__name__, "autogen", exc) from exc

from agent_approvals.approver import ApprovalCancelled, ApprovalRequest, Approver
from agent_approvals.modes import InputPolicy, ModeGate

AsyncInputFunc = Callable[[str, CancellationToken | None], Awaitable[str]]
SaveState = Callable[[], Awaitable[Mapping[str, Any]]]

_TURN_MESSAGES: ContextVar[Sequence[BaseChatMessage]] = ContextVar("approval_turn_messages", default=())
_TURN_AGENT: ContextVar[str] = ContextVar("approval_turn_agent", default="")


class ApprovalUserProxy(UserProxyAgent):
    """A `UserProxyAgent` that exposes the messages of its turn to the input function."""

    async def on_messages_stream(
        self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken
    ) -> AsyncGenerator[BaseAgentEvent | BaseChatMessage | Response, None]:
        messages_token = _TURN_MESSAGES.set(messages)
        agent_token = _TURN_AGENT.set(self.name)
        try:
            async for item in super().on_messages_stream(messages, cancellation_token):
                yield item
        finally:
            _TURN_MESSAGES.reset(messages_token)
            _TURN_AGENT.reset(agent_token)


def latest_proposal(messages: Sequence[BaseChatMessage], *, human: str) -> tuple[str, str]:
    """The newest message not written by the human, as (text, author)."""
    for message in reversed(messages):
        if message.source != human:
            return message.to_text(), message.source
    return "", ""


def make_input_func(
    approver: Approver, *, save_state: SaveState | None = None, policy: InputPolicy | None = None
) -> AsyncInputFunc:
    """An async `input_func` for `UserProxyAgent` that asks `approver` and returns the decision as text.

    Args:
        approver: who decides (the Slack bot implements this), or a `ModeGate` around it.
        save_state: optional `team.save_state`; its JSON is stored with the approval as a checkpoint.
        policy: an input mode to apply (wraps `approver` in a `ModeGate`); to share one gate with
            the run's tools, build the gate yourself and pass it as `approver` instead.
    """
    if policy is not None:
        approver = ModeGate(approver, policy)

    async def input_func(prompt: str, cancellation_token: CancellationToken | None) -> str:
        try:
            approval_id = UserProxyAgent.InputRequestContext.request_id()
        except RuntimeError:  # called outside a UserProxyAgent turn
            approval_id = str(uuid.uuid4())
        proposal, author = latest_proposal(_TURN_MESSAGES.get(), human=_TURN_AGENT.get())
        checkpoint = json.dumps(await save_state(), default=str) if save_state is not None else None
        request = ApprovalRequest(
            approval_id=approval_id, proposal=proposal or prompt, author=author or "agent", checkpoint=checkpoint
        )
        decision = await approver.request(request, cancellation_token)
        if decision.outcome == "cancelled":
            raise ApprovalCancelled(decision)
        return decision.reply_text()

    return input_func
