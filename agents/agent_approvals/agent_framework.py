"""Microsoft Agent Framework: tools with `approval_mode="always_require"` decided by people in Slack
(extra `agent-framework`).

    @tool(approval_mode="always_require")
    def send_email(to: str, body: str) -> str: ...

    agent = Agent(client=chat_client, name="mailer", tools=[send_email])
    response = await run_with_approvals(agent, "Email Bob the new prices", client=client)

`run_with_approvals` runs the agent in a session; while its response has `user_input_requests` (function
approval requests), it asks for each one (the tool's name, arguments and JSON schema, on the bot's usual
card) and runs the agent again with the approval responses. The framework tells the model only that a call
was "rejected by user", so a rejection also sends the reviewer's reason (or that nobody decided in time,
or that it was cancelled) as a message the model reads. The framework runs the call the model made, so a
reviewer's edit is returned to the model as a rejection quoting the edited arguments, and a call with them
is asked about again.
"""

from __future__ import annotations

from typing import Any, cast

from agent_framework import Agent, AgentResponse, Content, FunctionTool, Message

from agent_approvals.client import Approval, ApprovalsClient, refusal

FRAMEWORK = "Microsoft Agent Framework"


async def run_with_approvals(
    agent: Agent[Any], input: str, *, client: ApprovalsClient, within: int | None = None, session: Any = None,
    **run_kwargs: Any,
) -> AgentResponse[Any]:
    """Run `agent` on `input`, every function approval request decided in Slack (see the module docstring).
    `within`: seconds a decision may take (never longer than the channel allows)."""
    session = session or agent.create_session()
    response = await agent.run(input, session=session, **run_kwargs)
    while response.user_input_requests:
        contents: list[Content] = []
        for request in response.user_input_requests:
            decided = await _ask(agent, request, client=client, within=within)
            contents.append(request.to_function_approval_response(decided.approved))
            if not decided.approved:
                contents.append(Content.from_text(refusal(decided)))
        response = await agent.run([Message(role="user", contents=contents)], session=session, **run_kwargs)
    return cast(AgentResponse[Any], response)


async def _ask(agent: Agent[Any], request: Content, *, client: ApprovalsClient, within: int | None) -> Approval:
    call = request.function_call
    if call is None or not call.name:
        raise ValueError("a user input request that is not a function call's approval")
    arguments = call.parse_arguments() or {}
    options: dict[str, Any] = {"agent": f"{agent.name or 'agent'} ({FRAMEWORK})"[:80]}
    if within is not None:
        options["timeout"] = within
    asked = await client.request_tool(call.name, dict(arguments), schema=_schema(agent, call.name), **options)
    return asked if not asked.pending else await client.wait(asked.id)


def _schema(agent: Agent[Any], name: str) -> dict[str, Any] | None:
    for candidate in agent.default_options.get("tools") or []:
        if isinstance(candidate, FunctionTool) and candidate.name == name:
            return dict(candidate.parameters())
    return None
