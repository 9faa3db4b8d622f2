"""`agent-approvals-claude-code` (or `python -m agent_approvals.claude_code`): Claude Code's calls decided in Slack.

    agent-approvals-claude-code install [--project | --user] [--matcher 'Bash|Write|Edit|mcp__.*'] [--wait 50]
                                        [--http https://approvals.example.com] [--uninstall]
    agent-approvals-claude-code hook [--wait 50] [--on-error deny|ask]    # what the installed hook runs
    agent-approvals-claude-code channel                                   # the permission channel (MCP, stdio)

`hook` reads Claude Code's PreToolUse input on stdin and prints its decision on stdout (always exit 0: the
decision is in the JSON). Every path prints one, the hook's own failures included (input it cannot read, NaN or
nesting past Python's limits, a bad AGENT_APPROVALS_URL, a bug): deny with the reason, or "ask" with
`--on-error ask`. Claude Code reads exit 1 (a traceback) as no decision and runs the call: never that.
The bot and the key come from the environment: AGENT_APPROVALS_URL (several workers:
comma-separated), AGENT_APPROVALS_KEY, and optionally AGENT_APPROVALS_REQUESTER (the Slack user id the session
acts for, or their email: the bot asks Slack who has it) and AGENT_APPROVALS_CHANNEL. `install` merges the hook
into `.claude/settings.json` of the project (default; `--dir`) or of the user (`--user`); `--http URL` installs the
bot's HTTP hook instead (no process per call; the key read from AGENT_APPROVALS_KEY by Claude Code).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from agent_approvals.claude_code import settings
from agent_approvals.claude_code.hook import WAIT, OnError, answer, decide
from agent_approvals.client import ApprovalsClient

RETRY_FOR = 3.0  # seconds the hook retries an unreachable bot before it denies


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="agent-approvals-claude-code",
                                description="Claude Code's tool calls approved by people in Slack.")
    sub = p.add_subparsers(dest="command", required=True)
    hook = sub.add_parser("hook", help="the PreToolUse hook: the input on stdin, the decision on stdout")
    hook.add_argument("--wait", type=float, default=WAIT,
                      help=f"seconds to wait for the card's decision before deny-then-grant (default {WAIT:g})")
    hook.add_argument("--on-error", choices=("deny", "ask"), default="deny",
                      help="on an error or an unreachable bot: deny (default) or ask in the terminal")
    hook.add_argument("--retry-for", type=float, default=RETRY_FOR,
                      help=f"seconds to retry an unreachable bot (default {RETRY_FOR:g})")
    install = sub.add_parser("install", help="merge the hook into Claude Code's settings")
    where = install.add_mutually_exclusive_group()
    where.add_argument("--project", action="store_true", help="the project's .claude/settings.json (default)")
    where.add_argument("--user", action="store_true", help="the user's ~/.claude/settings.json")
    install.add_argument("--dir", type=Path, default=None, help="the project's directory (default: here)")
    install.add_argument("--uninstall", action="store_true", help="take the hook out again")
    install.add_argument("--matcher", default=settings.MATCHER,
                         help="the tools asked about, a Claude Code matcher (default '*': all)")
    install.add_argument("--wait", type=float, default=WAIT, help=f"the hook's --wait (default {WAIT:g})")
    install.add_argument("--on-error", choices=("deny", "ask"), default="deny", help="the hook's --on-error")
    install.add_argument("--http", metavar="URL", default="", help="install the bot's HTTP hook at URL instead")
    install.add_argument("--command", default=None, dest="hook_command",
                         help="how the hook runs this program (default: this interpreter by its absolute path,"
                              f" -m {settings.MODULE})")
    sub.add_parser("channel", help="the permission channel: an MCP server on stdio for Claude Code's Channels")
    return p


def main(
    argv: Sequence[str] | None = None, *, environ: Mapping[str, str] | None = None, stdin: BinaryIO | None = None
) -> int:
    """The command line; the bot and key from `environ` (the environment when None), the hook's input from `stdin`
    (standard input when None). Returns the exit code."""
    args = parser().parse_args(argv)
    env = os.environ if environ is None else environ
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
    if args.command == "hook":
        given = sys.stdin.buffer if stdin is None else stdin
        print(json.dumps(run_hook(args.wait, args.on_error, args.retry_for, env=env, stdin=given)))
        return 0
    if args.command == "install":
        return install(args, env=env)
    return channel(env)


def run_hook(
    wait: float, on_error: OnError, retry_for: float, *, env: Mapping[str, str], stdin: BinaryIO
) -> dict[str, Any]:
    """The decision on the hook input on `stdin`, whatever goes wrong (never fail open)."""
    try:
        raw = stdin.read().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return answer(on_error, "Not run: the hook's input could not be read as UTF-8.")
    try:
        return asyncio.run(hook(raw, wait=wait, on_error=on_error, retry_for=retry_for, env=env))
    except BaseException as exc:  # our own failure is a decision too: not run, with why
        logging.getLogger("agent_approvals.claude_code").warning("the hook failed: %s", type(exc).__name__)
        return answer(on_error, f"Not run: the approval hook failed ({type(exc).__name__}).")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def bad_url(url: str) -> bool:
    """Whether `url` is not an http(s) address with a host (`127.0.0.1:3000`, `localhost`, `ftp://...`)."""
    scheme, _, rest = url.partition("://")
    return scheme.lower() not in ("http", "https") or not rest.split("/", 1)[0].strip()


async def hook(
    raw: str, *, wait: float = WAIT, on_error: OnError = "deny", retry_for: float = RETRY_FOR,
    env: Mapping[str, str],
) -> dict[str, Any]:
    """The decision on the hook input `raw`, asked of the bot `env` names."""
    try:
        payload = json.loads(raw, parse_constant=_no_constant)
    except ValueError:
        return answer(on_error, "Not run: the hook's input is not JSON (or holds NaN or Infinity).")
    except RecursionError:
        return answer(on_error, "Not run: the hook's input is nested too deep.")
    url, key = env.get("AGENT_APPROVALS_URL", ""), env.get("AGENT_APPROVALS_KEY", "")
    urls = [u.strip() for u in url.split(",") if u.strip()]
    if not urls or not key.strip():
        return answer(on_error, "Not run: set AGENT_APPROVALS_URL and AGENT_APPROVALS_KEY for the approval hook.")
    if any(bad_url(u) for u in urls):
        return answer(on_error, "Not run: AGENT_APPROVALS_URL must be http:// or https:// addresses with a host"
                                " (e.g. https://approvals.example.com or http://127.0.0.1:3000).")
    options: dict[str, Any] = {name: env[f"AGENT_APPROVALS_{name.upper()}"] for name in ("requester", "channel")
                               if env.get(f"AGENT_APPROVALS_{name.upper()}")}
    async with ApprovalsClient(urls, key, retry_for=min(retry_for, wait), transport=_transport(urls),
                               client_name="claude-code") as client:
        return await decide(client, payload, wait=wait, on_error=on_error, **options)


def _transport(urls: Sequence[str]) -> httpx.AsyncHTTPTransport | None:
    """For plain-HTTP URLs only (a loopback bot, a sidecar), a transport that loads no CA bundle: there is no TLS
    to verify, and loading it is most of a hook process's own time (about 0.5 s). HTTPS URLs verify as ever."""
    if all(u.startswith("http://") for u in urls):
        return httpx.AsyncHTTPTransport(verify=False)
    return None


def install(args: argparse.Namespace, *, env: Mapping[str, str]) -> int:
    """Merge the hook into (or, `--uninstall`, take it out of) the settings of the project or of the user, whose home
    is `env`'s HOME."""
    home = Path(env["HOME"]) if env.get("HOME") else None
    path = settings.settings_path(user=args.user, project_dir=args.dir, home=home)
    try:
        if args.uninstall:
            changed = settings.uninstall(path)
            print(f"removed the approval hook from {path}" if changed else f"no approval hook in {path}")
            return 0
        entry = (settings.http_hook(args.http, wait=args.wait) if args.http else
                 settings.command_hook(wait=args.wait, command=args.hook_command, on_error=args.on_error))
        changed = settings.install(path, entry, matcher=args.matcher)
    except settings.BadSettings as exc:
        print(f"agent-approvals-claude-code: {exc}", file=sys.stderr)
        return 2
    print(f"installed the approval hook in {path} (matcher {args.matcher!r})" if changed
          else f"the approval hook is in {path} already")
    return 0


def channel(env: Mapping[str, str]) -> int:
    from agent_approvals.claude_code.channel import PermissionChannel

    url, key = env.get("AGENT_APPROVALS_URL", ""), env.get("AGENT_APPROVALS_KEY", "")
    if not url or not key:
        print("agent-approvals-claude-code: set AGENT_APPROVALS_URL and AGENT_APPROVALS_KEY", file=sys.stderr)
        return 2

    async def serve() -> None:
        urls = [u.strip() for u in url.split(",") if u.strip()]
        async with ApprovalsClient(urls, key, requester=env.get("AGENT_APPROVALS_REQUESTER", ""),
                                   channel=env.get("AGENT_APPROVALS_CHANNEL", ""), client_name="claude-code") as client:
            await PermissionChannel(client).serve_stdio()

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
