"""What the framework examples share: where they ask, where the demo `send_email` writes, which model runs.

Each example asks the bot at AGENT_APPROVALS_URL with the API key AGENT_APPROVALS_KEY (APPROVALS_CHANNEL: the
channel to ask in, default the key's first). The demo `send_email` sends nothing: each email is a file in
OUTBOX_DIR (default ./outbox). The model is a real one when OPENAI_BASE_URL (any OpenAI-compatible server:
Ollama `http://localhost:11434/v1`, vLLM, LiteLLM) or OPENAI_API_KEY is set (OPENAI_MODEL, default
gpt-4o-mini), else a scripted one that emails the first address in the task, offline, and then says what the
tool answered (a rejected call reads as rejected, never as sent).

Each card is announced as soon as it is posted, with its link, and each decision is printed as it happens, from
the client (not the model's words), e.g.

    waiting for approval in Slack: https://acme.slack.com/archives/C0123/p1714000000000100
    Slack: send_email approved by @bob [a-…]
    Slack: send_email rejected by @bob: not before the board meets [a-…]
    Slack: send_email approved by "always allow" rule R1 (auto-approved by rule R1) [a-…]

A bot that does not answer at AGENT_APPROVALS_URL, or refuses the key, is said in one line on standard error
before anything runs, and the example exits with status 1 (`run_cli`).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import uuid
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from agent_approvals import ApprovalsClient, ApprovalsError
from agent_approvals.client import Approval

SYSTEM = "You write short, polite emails and send them with send_email, one call per recipient. Then say what you sent."
DEFAULT_TASK = "Tell bob@example.com that our Q2 prices change on May 1"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An OpenAI-compatible chat completions endpoint."""

    base_url: str | None  # None: OpenAI's own
    api_key: str
    model: str


def endpoint(env: Mapping[str, str]) -> Endpoint | None:
    """The real model to use, if one is configured (else the example runs its scripted model)."""
    if not env.get("OPENAI_BASE_URL") and not env.get("OPENAI_API_KEY"):
        return None
    return Endpoint(env.get("OPENAI_BASE_URL") or None, env.get("OPENAI_API_KEY") or "unused",
                    env.get("OPENAI_MODEL") or "gpt-4o-mini")


def scripted_email(task: str) -> dict[str, str]:
    """The call the scripted model makes: an email to the first address in `task`."""
    to = (re.findall(r"[\w.+-]+@[\w-]+\.[\w.]+", task) or ["someone@example.com"])[0]
    return {"to": to, "body": f"Hello,\n\n{task}.\n\nBest regards"}


def write_email(env: Mapping[str, str], to: str, body: str) -> str:
    """The demo `send_email`: the email as a JSON file in OUTBOX_DIR; what the tool tells the model."""
    outbox = Path(env.get("OUTBOX_DIR") or "outbox")
    outbox.mkdir(parents=True, exist_ok=True)
    (outbox / f"{uuid.uuid4().hex[:12]}.json").write_text(json.dumps({"to": to, "body": body}), encoding="utf-8")
    return f"sent to {to}"


def decision_line(decided: Approval) -> str:
    """A decision as the examples print it: what was asked, then `Approval.summary` (who, which rule, why)."""
    what = decided.tool or "the human's turn"
    summary = decided.summary
    if decided.rule:
        summary = summary.replace(f"by rule {decided.rule}", f'by "always allow" rule {decided.rule}', 1)
    return f"Slack: {what} {summary} [{decided.id}]"


def show_decision(decided: Approval) -> None:
    """Print a decision as it happens (the client's `on_decided`)."""
    print(decision_line(decided), flush=True)


def waiting_line(asked: Approval) -> str:
    """What the examples print while a person decides: where the card is (its link; the approval's id when the
    bot does not know its workspace's URL)."""
    return f"waiting for approval in Slack: {asked.card_url or f'approval {asked.id}'}"


def show_waiting(asked: Approval, out: TextIO | None = None) -> None:
    """Print where a card waits, as soon as it is posted (the client's `on_waiting`)."""
    print(waiting_line(asked), file=out or sys.stdout, flush=True)


def approvals_client(env: Mapping[str, str], example: str, task: str, *, waiting_to: TextIO | None = None
                     ) -> ApprovalsClient:
    """The client of the bot's Approvals API, titling cards with the example and its task; it prints where each
    card waits (on `waiting_to`, default standard output) and each decision as it happens."""
    return ApprovalsClient(env["AGENT_APPROVALS_URL"], env["AGENT_APPROVALS_KEY"],
                           title=f"examples/{example}: {task}"[:150], channel=env.get("APPROVALS_CHANNEL", ""),
                           on_decided=show_decision, on_waiting=lambda asked: show_waiting(asked, waiting_to))


def bot_problem(env: Mapping[str, str]) -> str | None:
    """Why the examples cannot ask (the settings missing, the bot unreachable, the key refused), in one line;
    None when the bot answers at AGENT_APPROVALS_URL and takes AGENT_APPROVALS_KEY."""
    missing = [name for name in ("AGENT_APPROVALS_URL", "AGENT_APPROVALS_KEY") if not env.get(name)]
    if missing:
        return f"set {' and '.join(missing)} (python -m bot dev prints both)"

    async def check() -> None:
        async with ApprovalsClient(env["AGENT_APPROVALS_URL"], env["AGENT_APPROVALS_KEY"]) as client:
            await client.check()

    try:
        asyncio.run(check())
    except (ApprovalsError, ValueError) as exc:  # (ValueError: not an http(s) URL)
        return str(exc)
    return None


def approvals_error(exc: BaseException) -> ApprovalsError | None:
    """The client's error under `exc`, as a framework may wrap it (its cause, its context, an exception group)."""
    todo, seen = [exc], set()
    while todo:
        found = todo.pop()
        if isinstance(found, ApprovalsError):
            return found
        if id(found) not in seen:
            seen.add(id(found))
            todo += [e for e in (found.__cause__, found.__context__) if e is not None]
            todo += found.exceptions if isinstance(found, BaseExceptionGroup) else ()
    return None


def run_or_exit(run: Callable[[], str], name: str) -> None:
    """Print what `run` returns; a bot that cannot be asked (before, or as it runs) is one line on standard error
    and exit status 1, never a traceback."""
    problem = bot_problem(os.environ)
    if problem is not None:
        sys.exit(f"{name}: {problem}")
    try:
        said = run()
    except Exception as exc:
        error = approvals_error(exc)
        if error is None:
            raise
        sys.exit(f"{name}: {error}")
    print(said)


def final_words(result: str) -> str:
    """What a scripted model says after its call, from what the tool answered: sent, or not run and why."""
    if result.startswith("sent to "):
        return f"Sent the email ({result})."
    return f"Did not send the email. {result}"


Main = Callable[..., Coroutine[Any, Any, str]]  # main(env, task, *, resume_run="") -> the agent's last words


def run_cli(main: Main) -> None:
    """`python examples/<x>.py <task…>`, or `--resume <run id>` to finish a run whose process died (`run_or_exit`:
    a bot that cannot be asked is one line and exit status 1)."""
    args, name = sys.argv[1:], Path(sys.argv[0]).name
    if args[:1] == ["--resume"] and len(args) == 2:
        run_or_exit(lambda: asyncio.run(main(os.environ, resume_run=args[1])), name)
    else:
        run_or_exit(lambda: asyncio.run(main(os.environ, " ".join(args) or DEFAULT_TASK)), name)
