"""What `tools/list` shows, by policy (#91): the upstream's tools asked about in one AuthZEN batch to the bot
(`POST /access/v1/evaluations`, `ApprovalsClient.evaluations`: each tool with no arguments, `open_approvals` false so
nothing is opened), the answer kept `ttl` seconds for the same list. A tool a policy forbids outright (`policy_denied`)
is not listed; one a person decides is listed with `_meta["agent-approvals/approval"]` saying so (`required`, the
reason); the others as they are. `--list-all` (or AGENT_APPROVALS_MCP_LIST_ALL=1) lists everything, as before.

Listing is not a gate: every call is still decided when it is made (a policy that forbids some arguments only, or a
tool listed before a policy changed, is refused then). So when the bot cannot answer (unreachable, a refusal, no
answer within `within` seconds) every tool is listed and a warning logged: the list is fail-open, the calls are not.
A tool whose name the API cannot take (not 1 to 64 of letters, digits, `_ . : / -`) is listed as it is; its calls are
refused by the bot."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any

from agent_approvals._extras import missing_extra

try:
    import httpx
    from mcp import types
except ImportError as exc:  # the extra is not installed
    raise missing_extra(__name__, "mcp", exc) from exc

from agent_approvals.client import ApprovalsClient, ApprovalsError

log = logging.getLogger("agent_approvals.mcp_gateway")
LIST_ALL_ENV = "AGENT_APPROVALS_MCP_LIST_ALL"  # 1: every tool listed (as `--list-all`)
LIST_TTL = 30.0  # seconds a list's decisions are kept
LIST_WITHIN = 5.0  # seconds the bot may take to answer them; then everything is listed (with a warning)
APPROVAL_META = "agent-approvals/approval"  # a listed tool's `_meta`: a person decides its calls
BATCH = 100  # evaluations in one request (the bot's limit)
TOOL_NAME = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")  # what the API takes as a tool's name


class Listing:
    """`tools/list` filtered by policy (the module docstring). `list_all`: every tool, as before."""

    def __init__(self, client: ApprovalsClient, *, server: str, list_all: bool = False, ttl: float = LIST_TTL,
                 within: float = LIST_WITHIN) -> None:
        self.client = client
        self.server = server
        self.list_all = list_all
        self.ttl = ttl
        self.within = within
        self._kept: tuple[float, tuple[str, ...], dict[str, dict[str, Any]]] | None = None

    async def shown(self, tools: list[types.Tool]) -> list[types.Tool]:
        if self.list_all:
            return tools
        decisions = await self._decisions(tuple(tool.name for tool in tools if TOOL_NAME.fullmatch(tool.name)))
        if decisions is None:
            return tools
        shown = []
        for tool in tools:
            decided = decisions.get(tool.name, {"decision": True})
            reason = str((decided.get("context") or {}).get("reason", ""))
            if decided.get("decision") is True:
                shown.append(tool)
            elif reason == "policy_denied":
                log.info("not listed: %s on %s: a policy forbids it", tool.name, self.server)
            else:
                shown.append(marked(tool, decided))
        return shown

    async def _decisions(self, names: tuple[str, ...]) -> dict[str, dict[str, Any]] | None:
        """Each tool's decision (kept `ttl` seconds for the same list), or None when the bot gave none."""
        now = time.monotonic()
        if self._kept is not None and self._kept[1] == names and now < self._kept[0]:
            return self._kept[2]
        try:
            async with asyncio.timeout(self.within):
                answers = [answer for start in range(0, len(names), BATCH)
                           for answer in await self._batch(names[start:start + BATCH])]
        except (ApprovalsError, httpx.HTTPError, TimeoutError) as exc:
            log.warning("listing every tool of %s: the bot did not say which a policy forbids (%s); each call is"
                        " still decided when it is made", self.server, str(exc) or type(exc).__name__)
            return None
        decisions = dict(zip(names, answers, strict=False))
        self._kept = (now + self.ttl, names, decisions)
        return decisions

    async def _batch(self, names: tuple[str, ...]) -> list[dict[str, Any]]:
        if not names:
            return []
        client = self.client
        context = {name: value for name, value in (("channel", client.channel), ("requester", client.requester))
                   if value}
        return await client.evaluations(
            [{"action": {"name": name}} for name in names],
            subject={"type": "agent", "id": f"{self.server} (MCP)"[:80]},
            resource={"type": "mcp_server", "id": self.server[:256] or "mcp"}, context=context or None,
            options={"open_approvals": False})


def marked(tool: types.Tool, decided: dict[str, Any]) -> types.Tool:
    """`tool`, its `_meta` saying a person decides its calls (and why, as the bot said)."""
    context = decided.get("context") or {}
    said = (context.get("reason_user") or {}).get("403", "")
    note: dict[str, Any] = {"required": True, "reason": str(context.get("reason", "")) or "approval_required"}
    if said:
        note["message"] = str(said)
    return tool.model_copy(update={"meta": {**(tool.meta or {}), APPROVAL_META: note}})
