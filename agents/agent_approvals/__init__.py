"""agent_approvals: ask people in Slack to approve what your agents do. Agents ask; only people decide.

    client.py     `ApprovalsClient` (async) and `SyncApprovalsClient`: ask, wait, withdraw, through the
                  bot's Approvals API with an API key (no Slack token, no Redis)
    wire.py       the client's one boundary with HTTP: base URLs, retries across workers, the errors
                  (`ApprovalsError`, `Unreachable`, `BadKey`, …), never httpx's own
    approver.py   the `Approver` protocol every integration asks through (the client implements it; so
                  do the bot's own runs, in-process), `ApprovalRequest`, `Decision`, argument digests
    modes.py      input modes (always, terminate, never, policy) in front of any approver
    receipts.py   for executors: `verify` a receipt, `ReceiptChecker` (verify and spend once),
                  `requires_receipt` for tool functions, `guard_mcp_server` / `receipt_extension` for MCP servers
    jws.py        the one strict reader of what the product signs (EdDSA compact JWS: receipts, and the bot's
                  audit checkpoints: the bot reads through it too)
    state.py      where an integration keeps a paused run between asking and deciding (`StateStore`,
                  `FileStateStore`), so another process can finish it
    schemas.py    a tool's JSON schema (untrusted input) checked within bounds: nothing fetched, nothing frozen
    _extras.py    an integration whose framework is not installed names the extra that brings it
    durable.py    what the durable engines share: the ask, the decision a workflow acts on, ask / settle / withdraw
    relay.py      `agent-approvals-relay`: the bot's signed webhook in, a durable workflow's decision out

One module (or package) per framework, each behind its extra:

    autogen/      AutoGen (extra `autogen`): `run_with_approvals`, the user proxy's input function,
                  `require_approval` for tools, code approval, an approval-gated workbench
    openai_agents.py  the OpenAI Agents SDK (extra `openai-agents`): `run_with_approvals`, `resume`
    langgraph.py  LangGraph (extra `langgraph`): `tool_call` to interrupt with, `invoke_with_approvals`,
                  `resume_with_approvals`
    pydantic_ai.py  Pydantic AI (extra `pydantic-ai`): `run_with_approvals`
    agent_framework.py  Microsoft Agent Framework (extra `agent-framework`): `run_with_approvals`
    claude_agent_sdk.py  the Claude Agent SDK (extra `claude-agent-sdk`): `can_use_tool` for
                  `ClaudeAgentOptions`, or `pre_tool_use_hook`
    google_adk.py  Google's Agent Development Kit (extra `google-adk`): `approval_gate` (a
                  `before_tool_callback` asking for the tools named), `run_with_approvals`
    mcp_gateway/  any MCP client's tool calls (extra `mcp`): `agent-approvals-mcp`, a gateway in front of an
                  MCP server
    claude_code/  Claude Code (extra `claude-code`): the PreToolUse hook, `agent-approvals-claude-code install`,
                  the permission channel for Claude Code's Channels
    dbos.py       DBOS workflows (extra `dbos`): `DBOSApprovals(client, relay_url=...).approval(tool_call(...))`,
                  the relay's `DBOSDelivery`
    temporal/     Temporal workflows (extra `temporal`): `approval(tool_call(...))` in a workflow that inherits
                  `ApprovalsWorkflow`, `ApprovalActivities` for its worker, the relay's `TemporalDelivery`

Never imports `bot`, `slack_*` or `redis`."""

from __future__ import annotations

from agent_approvals.approver import ApprovalRequest, Approver, Decision, digest_of
from agent_approvals.client import (
    Approval,
    ApprovalsClient,
    ApprovalsError,
    BadKey,
    InvalidRequest,
    LimitReached,
    NotFound,
    OutOfScope,
    SyncApprovalsClient,
    Unreachable,
)
from agent_approvals.receipts import (
    ReceiptChecker,
    ReceiptError,
    ReceiptRequired,
    guard_mcp_server,
    receipt_extension,
    requires_receipt,
    verify,
)

__all__ = [
    "Approval",
    "ApprovalRequest",
    "ApprovalsClient",
    "ApprovalsError",
    "Approver",
    "BadKey",
    "Decision",
    "InvalidRequest",
    "LimitReached",
    "NotFound",
    "OutOfScope",
    "ReceiptChecker",
    "ReceiptError",
    "ReceiptRequired",
    "SyncApprovalsClient",
    "Unreachable",
    "digest_of",
    "guard_mcp_server",
    "receipt_extension",
    "requires_receipt",
    "verify",
]
