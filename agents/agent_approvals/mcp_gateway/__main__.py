"""`agent-approvals-mcp` (or `python -m agent_approvals.mcp_gateway`): the MCP approval gateway's command line.

    agent-approvals-mcp --url https://approvals.example.com --key-env AGENT_APPROVALS_KEY \\
        [--channel C0123456789] [--allow 'read_*'] [--within 600] [--env GITHUB_TOKEN] \\
        [--call-timeout 300] [--listen 127.0.0.1:8765] -- <upstream MCP server command and args>
    agent-approvals-mcp --url … --key-env … --upstream-url https://mcp.example.com/mcp

Serves MCP on stdio (or streamable HTTP at http://HOST:PORT/mcp with `--listen`). Logs go to stderr.
A client that declares the tasks extension gets a task (`tasks.py`; `--task-poll SECONDS` between its polls,
`--task-ttl SECONDS` its life).
`--call-timeout SECONDS` (default 300): how long the upstream may take to answer a forwarded call (or any other
request); then the client gets `isError` ("the upstream did not answer X within N s") and a log line is written.
What the client sends that is not JSON-RPC gets a JSON-RPC error (-32700, -32600; over `--listen` with HTTP 400).
`--artifact TOOL=JSON` and `--files DIR`: what a call changes, on its card (`marks.py`).
`tools/list` is filtered by policy (`listing.py`); `--list-all` (or AGENT_APPROVALS_MCP_LIST_ALL=1) lists every tool.
At start it checks the bot (`check_bot`: reachable at `--url`, and the key taken) and exits with code 2 and one
line when not.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from mcp.server.lowlevel import Server

from agent_approvals.client import ApprovalsClient
from agent_approvals.mcp_gateway.gateway import (
    CALL_TIMEOUT,
    LIST_ALL_ENV,
    PATIENCE,
    POLL_INTERVAL,
    STATE_KEY_ENV,
    TASK_TTL,
    Gateway,
    Upstream,
    configure_logging,
    connect,
    log,
    state_security_from,
    stdio_checked,
)
from agent_approvals.mcp_gateway.marks import BadMark, Marks, configured
from agent_approvals.mcp_gateway.wire import streamable_http
from agent_approvals.wire import base_url


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="agent-approvals-mcp",
        description="An MCP server in front of another: every tools/call waits for a person's decision in Slack.",
        epilog="Example: agent-approvals-mcp --url https://approvals.example.com --key-env AGENT_APPROVALS_KEY "
               "--allow 'list_*' -- npx -y @modelcontextprotocol/server-filesystem /srv/files",
    )
    p.add_argument("--url", required=True, action="append", help="the bot's URL (again for more workers)")
    p.add_argument("--key-env", default="AGENT_APPROVALS_KEY",
                   help="the environment variable holding the API key (default AGENT_APPROVALS_KEY)")
    p.add_argument("--channel", default="", help="the channel to ask in (default: the key's first)")
    p.add_argument("--requester", default="", help="the Slack user the agent acts for")
    p.add_argument("--allow", action="append", default=[], metavar="PATTERN",
                   help="tools forwarded without a card (fnmatch, e.g. 'read_*'; again for more)")
    p.add_argument("--within", type=int, default=None, metavar="SECONDS",
                   help="seconds a decision may take (never longer than the channel allows)")
    p.add_argument("--progress-every", type=float, default=10.0, metavar="SECONDS",
                   help="seconds between progress notifications while a person decides (default 10)")
    p.add_argument("--env", action="append", default=[], metavar="NAME[=VALUE]",
                   help="an environment variable for the stdio upstream (NAME passes this one's own)")
    p.add_argument("--upstream-url", default="", help="a streamable HTTP upstream instead of a command")
    p.add_argument("--upstream-header-env", action="append", default=[], metavar="HEADER=VAR",
                   help="send the HTTP upstream the header HEADER with the value of $VAR (e.g. Authorization=GH_AUTH)")
    p.add_argument("--start-timeout", type=float, default=30.0, metavar="SECONDS",
                   help="seconds the upstream may take to start (default 30)")
    p.add_argument("--call-timeout", type=float, default=CALL_TIMEOUT, metavar="SECONDS",
                   help="seconds the upstream may take to answer a request; a forwarded tools/call not answered in"
                        f" time gets the client isError saying so (default {CALL_TIMEOUT:g})")
    p.add_argument("--patience", type=float, default=PATIENCE, metavar="SECONDS",
                   help="seconds one round of a call waits for the decision before a 2026-07-28 client gets"
                        " input_required (and, with --deny-then-grant, an older client isError)"
                        f" (default {PATIENCE:g})")
    p.add_argument("--deny-then-grant", action="store_true",
                   help="for older clients with a short limit: past --patience, answer isError 'waiting for"
                        " approval in Slack: <card>; call again with the same arguments'; the identical retry runs"
                        " once approved")
    p.add_argument("--task-poll", type=float, default=POLL_INTERVAL, metavar="SECONDS",
                   help="seconds between tasks/get a client of the tasks extension is asked to keep"
                        f" (default {POLL_INTERVAL:g})")
    p.add_argument("--task-ttl", type=float, default=TASK_TTL, metavar="SECONDS",
                   help="seconds a task lives: nobody decided by then, its card is withdrawn; its id is honoured and"
                        f" its answer kept that long (default {TASK_TTL:g})")
    p.add_argument("--scope", default="", help="what names deny-then-grant's cards (default: the upstream's name)")
    p.add_argument("--state-key-file", default="", metavar="PATH",
                   help=f"the requestState sealing key (>= 32 bytes; else ${STATE_KEY_ENV}, else one per process)")
    p.add_argument("--listen", default="", metavar="HOST:PORT",
                   help="serve streamable HTTP at http://HOST:PORT/mcp instead of stdio")
    p.add_argument("--artifact", action="append", default=[], metavar="TOOL=JSON",
                   help="what a call of TOOL changes, shown on its card (as an x-artifact in its schema would say:"
                        " '{\"kind\": \"file\", \"path\": \"path\", \"after\": \"content\"}' names the"
                        " arguments); wins over the tool's own x-artifact")
    p.add_argument("--files", action="append", default=[], metavar="DIR",
                   help="a directory whose files the gateway may read, for a file change's text before the call"
                        " (again for more; none: no file is read, and a file change is not shown)")
    p.add_argument("--list-all", action="store_true", default=os.environ.get(LIST_ALL_ENV, "") not in ("", "0"),
                   help="list every upstream tool, as before #91 (default: a tool a policy forbids outright is not"
                        f" listed, one a person decides is marked in its _meta; also ${LIST_ALL_ENV}=1)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- the upstream MCP server's command and args")
    return p


def upstream_command(rest: Sequence[str]) -> list[str]:
    """The upstream's command: what follows `--`."""
    return list(rest[1:]) if rest[:1] == ["--"] else list(rest)


def upstream_env(names: Sequence[str], key_env: str, environ: dict[str, str]) -> dict[str, str]:
    """The stdio upstream's environment: what `--env` names (never the API key's variable)."""
    env: dict[str, str] = {}
    for item in names:
        name, has_value, value = item.partition("=")
        if name == key_env:
            raise SystemExit(f"agent-approvals-mcp: --env {name}: the API key is not passed to the upstream")
        if has_value:
            env[name] = value
        elif name in environ:
            env[name] = environ[name]
    return env


def upstream_headers(items: Sequence[str], environ: dict[str, str]) -> dict[str, str]:
    """The HTTP upstream's headers, each from an environment variable (a secret stays off the command line)."""
    headers: dict[str, str] = {}
    for item in items:
        name, _, variable = item.partition("=")
        if not name or not variable or variable not in environ:
            raise SystemExit(f"agent-approvals-mcp: --upstream-header-env {item}: give HEADER=VAR with $VAR set")
        headers[name] = environ[variable]
    return headers


async def serve(args: argparse.Namespace, key: str, upstream: Upstream) -> None:
    async with (
        ApprovalsClient(args.url, key, title="MCP tool call", channel=args.channel, requester=args.requester,
                        within=args.within, client_name="mcp") as client,
        connect(upstream) as connected,
    ):
        security, note = state_security_from(os.environ, args.state_key_file)
        log.info("%s", note)
        gateway = Gateway(connected, client, allow=args.allow, within=args.within,
                          progress_every=args.progress_every, call_timeout=args.call_timeout,
                          patience=args.patience, deny_then_grant=args.deny_then_grant, state_security=security,
                          scope=args.scope, task_poll=args.task_poll,
                          task_ttl=args.task_ttl, marks=Marks(configured(args.artifact), files=args.files),
                          list_all=args.list_all)
        server = gateway.server()
        if args.listen:
            await _serve_http(server, args.listen)
        else:
            async with stdio_checked() as (read, write):  # (what is not JSON-RPC answered with its error)
                await server.run(read, write, server.create_initialization_options())


async def _serve_http(server: Server[Any], listen: str) -> None:
    import uvicorn

    host, _, port = listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    app = streamable_http(server, host=host)  # (a body that is not JSON-RPC: 400, its error)
    log.info("serving MCP at http://%s:%s/mcp", host, port)
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("listening on %s: anyone who reaches it may list the tools and call the --allow ones", host)
    config = uvicorn.Config(app, host=host, port=int(port), log_level="warning", lifespan="on")
    await uvicorn.Server(config).serve()


CHECK_SECONDS = 10.0


def check_bot(urls: Sequence[str], key: str, key_env: str, *, timeout: float = CHECK_SECONDS) -> str | None:
    """Whether the bot answers at one of `urls` and takes the key, before serving anyone: `GET /api/v1/openapi.json`
    (reachable, and the approvals bot), then `GET /api/v1/key` with the key (200 when it stands; 401 when it is
    wrong or revoked: nothing the bot logs as a refusal when all is well). None when all is well; else the one line
    to say. A URL that does not answer, while another does, is logged and left to the client (it tries the next)."""
    import httpx

    problems: list[str] = []
    with httpx.Client(timeout=timeout, follow_redirects=False) as http:
        for url in urls:
            try:
                base = base_url(url)  # with or without a trailing / or /api/v1, as the client takes it
            except ValueError as exc:
                problems.append(str(exc))
                continue
            try:
                described = http.get(f"{base}/api/v1/openapi.json")
            except httpx.HTTPError as exc:
                problems.append(f"{base} is unreachable ({type(exc).__name__})")
                continue
            if described.status_code != 200:
                problems.append(f"{base} does not serve the Approvals API (GET /api/v1/openapi.json answered HTTP"
                                f" {described.status_code}; is it the bot's URL?)")
                continue
            try:
                answer = http.get(f"{base}/api/v1/key",
                                  headers={"Authorization": f"Bearer {key}", "User-Agent": "agent-approvals-mcp"})
            except httpx.HTTPError as exc:
                problems.append(f"{base} is unreachable ({type(exc).__name__})")
                continue
            if answer.status_code in (401, 403):
                return (f"the bot at {base} refused the API key in ${key_env} (HTTP {answer.status_code}: wrong or"
                        " revoked)")
            if answer.status_code != 200:
                problems.append(f"{base} answered HTTP {answer.status_code} when the key was checked")
                continue
            for problem in problems:
                log.warning("%s; going on with %s", problem, base)
            return None
    return "; ".join(problems) or "no --url given"


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    configure_logging()
    key = os.environ.get(args.key_env, "")
    if not key:
        print(f"agent-approvals-mcp: set the API key in ${args.key_env} (or name another with --key-env)",
              file=sys.stderr)
        return 2
    if not args.upstream_url and not upstream_command(args.command):
        print("agent-approvals-mcp: give the upstream MCP server's command after --, or --upstream-url",
              file=sys.stderr)
        return 2
    if not args.call_timeout > 0:
        print("agent-approvals-mcp: --call-timeout takes a number of seconds above 0", file=sys.stderr)
        return 2
    try:
        configured(args.artifact)
    except BadMark as exc:
        print(f"agent-approvals-mcp: {exc}", file=sys.stderr)
        return 2
    port = (args.listen or "").rpartition(":")[2]
    if args.listen and not (port.isascii() and port.isdigit()):
        print("agent-approvals-mcp: --listen takes HOST:PORT", file=sys.stderr)
        return 2
    problem = check_bot(args.url, key, args.key_env)
    if problem is not None:
        print(f"agent-approvals-mcp: {problem}", file=sys.stderr)
        return 2
    upstream = Upstream(command=upstream_command(args.command), url=args.upstream_url,
                        env=upstream_env(args.env, args.key_env, dict(os.environ)),
                        headers=upstream_headers(args.upstream_header_env, dict(os.environ)),
                        start_timeout=args.start_timeout)
    try:
        asyncio.run(serve(args, key, upstream))
    except KeyboardInterrupt:
        pass
    logging.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
