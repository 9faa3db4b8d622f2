"""`python -m bot dev` as a subprocess with its own Redis: start it, drive its control API, stop it."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tests.conftest import block_texts

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"
GENERAL, APPROVALS = "C0GENERAL", "C0APPROVALS"
START_TIMEOUT = 45.0


def wait_until(predicate: Callable[[], T | None], *, timeout: float = 15.0, what: str = "condition") -> T:
    """Poll `predicate` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value {value!r}")
        time.sleep(0.05)


def http(method: str, url: str, body: dict[str, Any] | None = None, *, timeout: float = 10.0) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def block_text(message: dict[str, Any]) -> str:
    """All text of a message: its `text` and every text object of its blocks."""
    return str(message.get("text") or "") + "\n" + block_texts(message)


def has_button(message: dict[str, Any], action_id: str) -> bool:
    return any(
        element.get("action_id") == action_id
        for block in message.get("blocks") or []
        if block.get("type") == "actions"
        for element in block.get("elements") or []
    )


def dev_environment(**changes: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "MODEL_CONFIG", "OPENAI_API_KEY")}
    env.pop("APPROVAL_TIMEOUT", None)
    env["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="bot-dev-state-")  # dev's data folder: the test's own
    env.update(changes)
    return env


@dataclass
class Dev:
    """A `python -m bot dev` subprocess and what it printed."""

    process: subprocess.Popen[bytes]
    port: int
    out_path: Path
    err_path: Path
    _files: list[Any] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def state(self) -> dict[str, Any]:
        status, state = http("GET", f"{self.url}/_control/state")
        assert status == 200, state
        assert isinstance(state, dict)
        return state

    def control(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        status, answer = http("POST", f"{self.url}/_control/{path}", body, timeout=30)
        assert status == 200, (path, status, answer)
        assert isinstance(answer, dict)
        return answer

    def command(self, text: str, *, user: str = ALICE, channel: str = GENERAL) -> str:
        """`/agent <text>` as `user` in `channel`; returns the bot's (ephemeral) answer."""
        result = self.control("command", {"user": user, "channel": channel, "text": text})
        assert result["status"] == 200, result
        answer = result["json"]["text"] if isinstance(result.get("json"), dict) else result["body"]
        return str(answer)

    def exported(self) -> dict[str, str]:
        """What dev mode printed to export for programs (`AGENT_APPROVALS_URL`, `AGENT_APPROVALS_KEY`, ...): name ->
        value."""
        wait_until(lambda: "export AGENT_APPROVALS_KEY" in self.stdout(), timeout=30, what="dev mode's export lines")
        lines = [line for line in self.stdout().splitlines() if line.startswith("export AGENT_APPROVALS_")]
        return dict(shlex.split(line)[1].split("=", 1) for line in lines)

    def messages(self, channel: str) -> list[dict[str, Any]]:
        return list(self.state()["messages"].get(channel, []))

    def stop(self, sig: signal.Signals = signal.SIGINT, *, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            for f in self._files:
                f.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for f in self._files:
            f.close()


def start_dev(port: int, env: dict[str, str], workdir: Path, *, wait: bool = True, args: Sequence[str] = (),
              python: Path | None = None, cwd: Path = ROOT) -> Dev:
    """`python -m bot dev` (`python`: another interpreter's, e.g. a venv's installing the packages; `cwd`: where it
    runs, outside the repository for an installed bot)."""
    out_path, err_path = workdir / f"dev-{port}.out", workdir / f"dev-{port}.err"
    out, err = out_path.open("wb"), err_path.open("wb")
    process = subprocess.Popen(
        [str(python or sys.executable), "-m", "bot", "dev", "--port", str(port), *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=err,
    )
    dev = Dev(process=process, port=port, out_path=out_path, err_path=err_path, _files=[out, err])
    if not wait:
        return dev
    try:

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"dev exited with {process.returncode}: {dev.stdout()} {dev.stderr()}")
            return "Local Slack:" in dev.stdout()

        wait_until(ready, timeout=START_TIMEOUT, what="dev to print its URL")
        wait_until(lambda: http("GET", dev.url + "/")[0] == 200, what="the page to answer")
    except BaseException:
        dev.kill()
        raise
    return dev
