"""The AutoGen bridge: the input function asks with the request id and the conversation, and what it returns for each
decision."""

from __future__ import annotations

from agent_approvals.approver import Decision
from agent_approvals.integrations.autogen.input_func import ApprovalUserProxy, make_input_func
from autogen_agentchat.messages import TextMessage
from autogen_core import CancellationToken

from bot.runs.teams import HUMAN
from tests.support.approver import ScriptedApprover


async def test_input_func_uses_request_id_and_the_conversation() -> None:
    approver = ScriptedApprover(("approved", "ship it"))
    proxy = ApprovalUserProxy(HUMAN, input_func=make_input_func(approver))
    response = await proxy.on_messages([TextMessage(content="the draft <b>", source="assistant")], CancellationToken())
    assert response.chat_message.to_text() == "APPROVE\nship it"
    request = approver.requests[0]
    assert request.proposal == "the draft <b>" and request.author == "assistant"
    assert len(request.approval_id) == 36  # UserProxyAgent.InputRequestContext.request_id()


def test_decision_reply_texts() -> None:
    assert Decision("a", "approved").reply_text() == "APPROVE"
    assert Decision("a", "rejected", feedback="no").reply_text() == "REJECT\nno"
    assert Decision("a", "revised", feedback="make it formal").reply_text() == "make it formal"
    assert (
        Decision("a", "timed_out", feedback="no decision within 10m").reply_text() == "REJECT: no decision within 10m"
    )
    assert Decision("a", "timed_out", timeout_outcome="approve").approves
