"""A new TypeScript user's first approved AI SDK tool call, as the docs tell it, from a fresh clone.

`first_call(workdir)` does what docs/agents/typescript.md's "From a clone" block (marked `ts-first-call`) says, in
`workdir`: `git clone` of this repository (its committed HEAD), then in the clone the block's `npm install` line as
written (npm reaches only its registry, or the registry mirror it is configured with), the AI SDK page's complete
program (docs/agents/typescript-ai-sdk.md, marked `ts-ai-sdk`) saved as `mailer.mts` in the clone, a bot started with
`python -m bot dev` (in parallel with the install, as another shell would) and the program run as the block says,
with the two lines dev printed exported; the card is approved as bob in dev's local Slack (its control API, the
clicks of its page). Done when the program has run the approved call (`send_email(to='bob@example.com')`) and ended
well. The timings of each step, in seconds from the clone's start.

Node 22.18 or newer runs the `.mts` file as it is (types stripped); on a machine whose `node` is older, the suite's
own Node 22 (tests/agents/typescript/project) stands in for the user's.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import free_port
from tests.support.dev import APPROVALS, BOB, Dev, block_text, dev_environment, has_button, start_dev, wait_until
from tests.support.source import ROOT
from tests.support.typescript import node, node22

STEPS = ROOT / "docs" / "agents" / "typescript.md"
PAGE = ROOT / "docs" / "agents" / "typescript-ai-sdk.md"
RAN = "send_email(to='bob@example.com')"  # what the page's program prints when its approved call runs
TIMEOUT = 600.0  # each step at most (an install from a slow registry)


def marked(page: Path, name: str, language: str) -> str:
    """The code block of `page` marked `<!-- snippet: name -->`."""
    found = re.findall(rf"<!-- snippet: {re.escape(name)} -->\n```{language}\n(.*?)\n```", page.read_text(), re.S)
    assert len(found) == 1, f"{page.name}: no single block marked {name}"
    return str(found[0])


@dataclass
class Steps:
    """The docs' steps: the install command, the bot, the program's command."""

    install: str
    bot: str
    run: str

    @classmethod
    def from_docs(cls) -> Steps:
        lines = [line.split("#", 1)[0].strip() for line in marked(STEPS, "ts-first-call", "bash").splitlines()]
        bot, install, run = [line for line in lines if line]
        assert bot == "pip install -e ./agents -e . && python -m bot dev", lines  # the bot installed, then started
        assert install.startswith("npm install ") and run == "npx -y node@22 mailer.mts", lines
        return cls(install, bot, run)


@dataclass
class FirstCall:
    """When each step ended (seconds from the start of the clone), and what the program printed."""

    cloned: float = 0.0
    installed: float = 0.0
    bot_ready: float = 0.0
    card: float = 0.0
    first_call: float = 0.0
    said: str = ""
    steps: list[str] = field(default_factory=list)


def user_node() -> str:
    """A Node that runs TypeScript as it is (22.18 or newer): the machine's, else the suite's Node 22."""
    found = node()
    version = subprocess.run([found, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    major, minor = (int(part) for part in version.lstrip("v").split(".")[:2])
    return found if (major, minor) >= (22, 18) else node22()


def sh(command: str, cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{command}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")


def approve(dev: Dev, program: subprocess.Popen[str]) -> None:
    """Wait for the program's card (pending, naming bob@example.com) and click Approve as bob."""

    def card() -> dict[str, object] | None:
        if program.poll() is not None:
            out, err = program.communicate()
            raise AssertionError(f"the program ended before its card ({program.returncode}): {out}\n{err}")
        return next((m for m in dev.messages(APPROVALS) if not m.get("thread_ts")
                     and has_button(m, "approval_approve") and "bob@example.com" in block_text(m)), None)

    shown = wait_until(card, timeout=TIMEOUT, what="the program's card in #approvals")
    dev.control("click", {"user": BOB, "channel": APPROVALS, "ts": shown["ts"], "action_id": "approval_approve"})


def first_call(workdir: Path) -> FirstCall:
    """The docs' path from `git clone` to the first approved AI SDK tool call, in `workdir` (see the module)."""
    steps = Steps.from_docs()
    program_text = marked(PAGE, "ts-ai-sdk", "ts")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_APPROVALS_", "NODE_OPTIONS"))}
    clone = workdir / "agent-approvals"
    timings = FirstCall(steps=[steps.install, steps.bot, steps.run])
    started = time.monotonic()
    dev = start_dev(free_port(), dev_environment(), Path(tempfile.mkdtemp(prefix="dev-", dir=workdir)), wait=False)
    try:
        sh(f"git clone --quiet {shlex.quote(str(ROOT))} {shlex.quote(str(clone))}", workdir, env)
        timings.cloned = time.monotonic() - started
        sh(steps.install, clone, env)
        timings.installed = time.monotonic() - started
        (clone / "mailer.mts").write_text(program_text + "\n")
        exported = dev.exported()  # dev printed its lines (waits while it starts)
        timings.bot_ready = time.monotonic() - started
        # `npx -y node@22`: the Node 22 it fetches, or the suite's (the machine's own when 22.18 or newer)
        program = subprocess.Popen([user_node(), *shlex.split(steps.run)[3:]], cwd=clone, env={**env, **exported},
                                   text=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            approve(dev, program)
            timings.card = time.monotonic() - started
            out, err = program.communicate(timeout=TIMEOUT)
        finally:
            if program.poll() is None:
                program.kill()
                program.communicate()
        timings.first_call = time.monotonic() - started  # the approved call ran, and the program ended well
        assert program.returncode == 0 and RAN in out, f"{out}\n{err[-3000:]}"
        timings.said = out
        left = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True, check=True)
        assert left.stdout == "", f"the first call left untracked files in the clone: {left.stdout}"
    finally:
        dev.stop()
    return timings
