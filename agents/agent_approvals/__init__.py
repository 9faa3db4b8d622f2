"""agent_approvals: ask people in Slack to approve what your agents do. Agents ask; only people decide.

    client.py     `ApprovalsClient` (async) and `SyncApprovalsClient`: ask, wait, withdraw, through the
                  bot's Approvals API with an API key (no Slack token, no Redis)
    answers.py    what the API answers, as a program reads it: `Approval`, `Use`, `AllowedCall`, and the
                  words a model reads when a call does not run (`refusal`) or waits (`waiting_words`)
    wire.py       the client's one boundary with HTTP: base URLs, retries across workers, the errors
                  (`ApprovalsError`, `Unreachable`, `BadKey`, …), never httpx's own
    approver.py   the `Approver` protocol every integration asks through (the client implements it; so
                  do the bot's own runs, in-process), `ApprovalRequest`, `Decision`, argument digests
    modes.py      input modes (always, terminate, never, policy) in front of any approver
    artifacts.py  the change itself on an ask (file changes, commands, messages, queries): normalised, their
                  digests (`artifact_sha256`), and whether a file on disk is still the approved `before`
    files.py      reading a file someone else names: only a regular file (never a FIFO or a device waited on),
                  bounded, on its own small pool of threads with a timeout
    canonical.py  RFC 8785 canonical JSON (`jcs`): what every digest (`args_sha256`, `artifact_sha256`) is of
    receipts.py   for executors: `verify` a receipt, `ReceiptChecker` (verify and spend once)
    guards.py     the receipt wrapped round what runs: `requires_receipt` for tool functions,
                  `guard_mcp_server` / `receipt_extension` for MCP servers (their old names in receipts.py
                  still import, deprecated)
    receipt_terms.py  what both share: `ReceiptError` and `META_KEY` (below both: no import cycle)
    jws.py        the one strict reader of what the product signs (EdDSA compact JWS: receipts, and the bot's
                  audit checkpoints: the bot reads through it too)
    state.py      where an integration keeps a paused run between asking and deciding (`StateStore`,
                  `FileStateStore`), so another process can finish it
    schemas.py    a tool's JSON schema (untrusted input) checked within bounds: nothing fetched, nothing frozen
    _extras.py    an integration whose framework is not installed names the extra that brings it

The wings, each importing the core above and never another wing (tests/test_layout.py):

    integrations/  one module (or package) per framework, each behind its extra: autogen/, openai_agents,
                  langgraph, pydantic_ai, agent_framework, claude_agent_sdk, google_adk, agui (AG-UI's
                  interrupts) (`run_with_approvals`)
    durable/      durable workflows: the shared ask, settle and withdraw; temporal/ and dbos (extras `temporal`,
                  `dbos`); the relay (`agent-approvals-relay`), which finds an engine by name in a registry
    mcp_gateway/  any MCP client's tool calls (extra `mcp`): `agent-approvals-mcp`, a gateway in front of an
                  MCP server
    claude_code/  Claude Code (extra `claude-code`): the PreToolUse hook, `agent-approvals-claude-code install`,
                  the permission channel for Claude Code's Channels

The names the interface gives the integrations and engines stay: each is the module in its wing, under its old
name (`agent_approvals.langgraph` is `agent_approvals.integrations.langgraph`):

    autogen/, openai_agents.py, langgraph.py, pydantic_ai.py  the frameworks' (in `integrations/`)
    agent_framework.py, claude_agent_sdk.py, google_adk.py  the frameworks' (in `integrations/`)
    temporal/, dbos.py  the durable engines' (`agent_approvals.durable.temporal`, `agent_approvals.durable.dbos`)

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
from agent_approvals.guards import ReceiptRequired, guard_mcp_server, receipt_extension, requires_receipt
from agent_approvals.receipts import ReceiptChecker, ReceiptError, verify
from agent_approvals.wire import VERSION

__version__ = VERSION  # the project's one version (bot.__version__, pyproject.toml, CHANGELOG.md)

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
