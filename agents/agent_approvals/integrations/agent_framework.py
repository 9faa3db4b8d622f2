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
or that it was cancelled) as a message the model reads.

The framework runs the call the model made, never other arguments, so the card says the arguments cannot be
edited and Revise offers only feedback, which reaches the model the same way (nothing runs); the model may
call the tool again (that call is asked about again, as a new card).

Durable: give a `store` and a `run_id`, and the paused session (`AgentSession.to_dict()`: its history and the
approval requests the framework recorded) and the pending requests (`Content.to_dict()`) are kept there before
anything is asked; every ask carries an idempotency key made of the run id and the framework's id of the call.
If the process dies while a person decides, `resume(agent, run_id, client=..., store=...)` in another process
rebuilds the session and the requests, asks again (the same approvals: decided ones answer at once, no second
card), sends the approval responses and finishes the run. `resume` asks with the `within` the paused run gave
(kept with it); the program should give its client the same title, so the API knows the asks again. A tool that
ran just before the process died, before the run reached its next pause or its end, runs again on resume (its
approval answers at once): make such tools safe to repeat.
"""

from __future__ import annotations

import json
from typing import Any

from agent_approvals._extras import missing_extra

try:
    from agent_framework import Agent, AgentResponse, AgentSession, Content, FunctionTool, Message
except ImportError as exc:  # the extra is not installed
    raise missing_extra(__name__, "agent-framework", exc) from exc

from agent_approvals.client import Approval, ApprovalsClient, idempotency_key, refusal
from agent_approvals.state import FileStateStore, StateStore, paused_json

FRAMEWORK = "Microsoft Agent Framework"
STATE_VERSION = 1
__all__ = ["FileStateStore", "StateStore", "resume", "run_with_approvals"]


async def run_with_approvals(
    agent: Agent[Any],
    input: str,
    *,
    client: ApprovalsClient,
    store: StateStore | None = None,
    run_id: str = "",
    within: int | None = None,
    session: AgentSession | None = None,
    **run_kwargs: Any,
) -> AgentResponse[Any]:
    """Run `agent` on `input`, every function approval request decided in Slack (see the module docstring).
    `within`: seconds a decision may take (never longer than the channel allows)."""
    if store is not None and not run_id:
        raise ValueError("a store keeps paused runs by run_id: give one")
    session = session or agent.create_session()
    response = await agent.run(input, session=session, **run_kwargs)
    return await _until_done(agent, response, session, client=client, store=store, run_id=run_id, within=within,
                             run_kwargs=run_kwargs)


async def resume(
    agent: Agent[Any],
    run_id: str,
    *,
    client: ApprovalsClient,
    store: StateStore,
    **run_kwargs: Any,
) -> AgentResponse[Any]:
    """Finish a run whose process died while a person decided: from the paused session kept in `store`. It
    asks as the paused run did (the same `within`), so the API knows the asks again by their idempotency keys."""
    kept = paused_json(store, run_id, version=STATE_VERSION)
    session = AgentSession.from_dict(kept["session"])
    requests = [Content.from_dict(request) for request in kept["requests"]]
    within = kept.get("within")
    message = await _decide(agent, requests, client=client, run_id=run_id, within=within)
    response = await agent.run([message], session=session, **run_kwargs)
    return await _until_done(agent, response, session, client=client, store=store, run_id=run_id, within=within,
                             run_kwargs=run_kwargs)


async def _until_done(
    agent: Agent[Any],
    response: AgentResponse[Any],
    session: AgentSession,
    *,
    client: ApprovalsClient,
    store: StateStore | None,
    run_id: str,
    within: int | None,
    run_kwargs: dict[str, Any],
) -> AgentResponse[Any]:
    while response.user_input_requests:
        requests = list(response.user_input_requests)
        if store is not None:  # before anyone is asked: a crash from here on can resume
            kept = {"version": STATE_VERSION, "session": session.to_dict(),
                    "requests": [request.to_dict() for request in requests], "within": within}
            store.save(run_id, json.dumps(kept))
        message = await _decide(agent, requests, client=client, run_id=run_id, within=within)
        response = await agent.run([message], session=session, **run_kwargs)
    if store is not None:
        store.delete(run_id)
    return response


async def _decide(
    agent: Agent[Any], requests: list[Content], *, client: ApprovalsClient, run_id: str, within: int | None
) -> Message:
    """Ask for each request; the message that answers them (and says why a refused call did not run)."""
    contents: list[Content] = []
    for request in requests:
        decided = await _ask(agent, request, client=client, run_id=run_id, within=within)
        contents.append(request.to_function_approval_response(decided.approved))
        if not decided.approved:
            contents.append(Content.from_text(refusal(decided)))
    return Message(role="user", contents=contents)


async def _ask(
    agent: Agent[Any], request: Content, *, client: ApprovalsClient, run_id: str, within: int | None
) -> Approval:
    call = request.function_call
    if call is None or not call.name:
        raise ValueError("a user input request that is not a function call's approval")
    arguments = call.parse_arguments() or {}
    options: dict[str, Any] = {"agent": f"{agent.name or 'agent'} ({FRAMEWORK})"[:80]}
    if within is not None:
        options["timeout"] = within
    call_id = str(request.id or call.id or call.call_id or "")  # the framework's id of the call, kept in the session
    key = idempotency_key("af", run_id, call_id) if run_id and call_id else None
    return await client.tool_decision(  # used once: one a dead process used is asked about again
        call.name, dict(arguments), schema=_schema(agent, call.name), editable=False, idempotency_key=key, **options
    )


def _schema(agent: Agent[Any], name: str) -> dict[str, Any] | None:
    for candidate in agent.default_options.get("tools") or []:
        if isinstance(candidate, FunctionTool) and candidate.name == name:
            return dict(candidate.parameters())
    return None
