"""The real `claude` CLI (Claude Code, from npm) in headless mode against the fake Messages API
(`tests.support.fake_anthropic`), in a project whose `.claude/settings.json` has our hook, installed by our own
`install` command. .ci/run installs the CLI at `.ci/cache/claude-code` (`CLAUDE_CODE_BIN` points elsewhere).

Each run is isolated: its own HOME (no user settings, no login), no traffic but to the fake, the bot and the key
in the hook's environment as a user exports them."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import ALICE
from tests.support.fake_anthropic import FakeAnthropic

ROOT = Path(__file__).resolve().parents[2]
INSTALLED = ROOT / ".ci" / "cache" / "claude-code" / "node_modules" / ".bin" / "claude"
INSTALL = "npm install --prefix .ci/cache/claude-code @anthropic-ai/claude-code"
HOOK = f"{sys.executable} -m agent_approvals.claude_code"  # as the console script runs (it may not be installed)


def claude_binary() -> str:
    binary = os.environ.get("CLAUDE_CODE_BIN") or str(INSTALLED)
    if not Path(binary).exists():
        raise RuntimeError(f"the claude CLI is not installed at {binary}: run `{INSTALL}` (.ci/run does)")
    return binary


def install(project: Path, *args: str) -> str:
    """Run our `install` in `project` (as a user does), its output."""
    import subprocess

    done = subprocess.run([sys.executable, "-m", "agent_approvals.claude_code", "install", "--dir", str(project),
                           "--command", HOOK, *args], capture_output=True, text=True, timeout=60, env=os.environ)
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass
class Run:
    """One `claude -p` run's JSON result."""

    result: dict[str, Any]

    @property
    def session(self) -> str:
        return str(self.result["session_id"])

    @property
    def told(self) -> list[dict[str, Any]]:
        """The tool results the model read ({"error", "text"} each), from the fake model's last words."""
        text = str(self.result.get("result", ""))
        assert text.startswith("RESULTS: "), self.result
        told: list[dict[str, Any]] = json.loads(text.removeprefix("RESULTS: "))
        return told


@dataclass
class Claude:
    """The CLI in `project`, its model at `model_url`, asking the bot at `bot_url` with `key`."""

    project: Path
    home: Path
    model_url: str
    bot_url: str
    key: str
    requester: str = ""

    def env(self) -> dict[str, str]:
        env = {"HOME": str(self.home), "PATH": os.environ.get("PATH", ""),
               "PYTHONPATH": os.environ.get("PYTHONPATH", ""), "ANTHROPIC_BASE_URL": self.model_url,
               "ANTHROPIC_API_KEY": "sk-ant-test", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
               "DISABLE_AUTOUPDATER": "1", "AGENT_APPROVALS_URL": self.bot_url, "AGENT_APPROVALS_KEY": self.key}
        if self.requester:
            env["AGENT_APPROVALS_REQUESTER"] = self.requester
        return env

    async def run(self, *calls: tuple[str, dict[str, Any]], resume: str = "", within: float = 120) -> Run:
        """`claude -p` with a prompt that makes `calls` (in order), resuming session `resume` if given."""
        prompt = "\n".join(f"CALL {name} {json.dumps(arguments)}" for name, arguments in calls)
        args = [claude_binary(), "-p", prompt, "--output-format", "json"]
        if resume:
            args += ["--resume", resume]
        process = await asyncio.create_subprocess_exec(
            *args, cwd=self.project, env=self.env(), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(process.communicate(), within)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        assert out, f"claude printed nothing (exit {process.returncode}): {err.decode()[-2000:]}"
        return Run(json.loads(out))


def claude(tmp_path: Path, model: FakeAnthropic, bot_url: str, key: str, *args: str) -> Claude:
    """The CLI in a fresh project (`shop-api`, our hook installed with `args`) and HOME under `tmp_path`, asking for
    Alice."""
    project, home = tmp_path / "shop-api", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    install(project, *args)
    return Claude(project=project, home=home, model_url=model.url, bot_url=bot_url, key=key, requester=ALICE)


def runs(project: Path) -> int:
    """How often a Bash call of the tests (`echo ... >> ran.txt`) ran in `project`."""
    ran = project / "ran.txt"
    return len(ran.read_text().splitlines()) if ran.exists() else 0
