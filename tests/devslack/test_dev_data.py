"""`python -m bot dev` keeps its data across restarts (bot/dev/, `--data`, `--fresh`), tested as a user runs it:
dev started as its own process, an approval asked with the key it printed, dev stopped (Ctrl-C) and started again
on the same folder: the same key is printed and still works, the approval is still there, pending, and a program's
wait on it goes on; `--fresh` starts afresh (a new key, the old one refused); a second dev on the same folder is
refused, naming it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from agent_approvals import ApprovalsClient

from tests.conftest import ALICE, free_port
from tests.support.dev import dev_environment, start_dev
from tests.support.source import ROOT

pytestmark = pytest.mark.slow  # dev and its redis-server are processes of their own


def call(method: str, url: str, key: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """The Approvals API with `key`, as a program calls it."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Authorization": f"Bearer {key}"})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


ASK = {"kind": "tool", "title": "Tell Bob about the prices", "requester": ALICE,
       "tool": {"name": "send_email", "arguments": {"to": "bob@example.com"}}}


class Program(threading.Thread):
    """A program waiting on an approval with the package's client (one `ApprovalsClient`: a call, then
    `wait(..., at_most=...)`), as an agent does."""

    def __init__(self, url: str, key: str, approval_id: str, *, at_most: float) -> None:
        super().__init__(daemon=True)
        self.url, self.key, self.approval_id, self.at_most = url, key, approval_id, at_most
        self.status = ""
        self.ended = 0.0
        self.answered = threading.Event()  # the bot has answered it once: a refused connection is now a restart

    def run(self) -> None:
        try:
            self.status = asyncio.run(self.waited())
        except Exception as exc:  # what the test reports
            self.status = f"failed: {exc!r}"
        self.ended = time.monotonic()

    async def waited(self) -> str:
        async with ApprovalsClient(self.url, self.key) as client:
            await client.check()
            self.answered.set()
            return (await client.wait(self.approval_id, at_most=self.at_most)).status


def test_dev_keeps_its_redis_and_key_across_a_restart_unless_fresh(tmp_path: Path) -> None:
    env = dev_environment(XDG_STATE_HOME=str(tmp_path / "state"))
    port = free_port()
    dev = start_dev(port, env, tmp_path)
    try:
        printed = dev.exported()
        key, url = printed["AGENT_APPROVALS_KEY"], printed["AGENT_APPROVALS_URL"]
        status, asked = call("POST", f"{url}/api/v1/approvals", key, ASK)
        assert status == 201, asked
        data = tmp_path / "state" / "slack-agent-approvals" / "dev"
        assert f"# dev data kept in {data} (python -m bot dev --fresh: start afresh)" in dev.stdout()
        assert (data / "dev-key.json").stat().st_mode & 0o777 == 0o600
        second = subprocess.run([sys.executable, "-m", "bot", "dev", "--port", str(free_port())], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 1 and f"another python -m bot dev uses {data}" in second.stderr, second
        program = Program(url, key, asked["id"], at_most=25)
        program.start()
        assert program.answered.wait(timeout=30), program.status
    finally:
        assert dev.stop() == 0

    dev = start_dev(port, env, tmp_path)  # restarted: the same folder
    restarted = time.monotonic()
    try:
        program.join(timeout=60)
        assert program.status == "pending" and program.ended > restarted, program.status  # its wait went on
        assert dev.exported()["AGENT_APPROVALS_KEY"] == key  # the program's key still works
        status, answer = call("GET", f"{url}/api/v1/approvals/{asked['id']}?wait=1", key)
        assert status == 200 and answer["status"] == "pending", answer  # its approval is still there
    finally:
        assert dev.stop() == 0

    dev = start_dev(port, env, tmp_path, args=["--fresh"])
    try:
        fresh = dev.exported()["AGENT_APPROVALS_KEY"]
        assert fresh != key
        status, answer = call("GET", f"{url}/api/v1/approvals/{asked['id']}", key)
        assert status == 401, answer  # the old data is gone: its key with it
        status, answer = call("GET", f"{url}/api/v1/approvals/{asked['id']}", fresh)
        assert status == 404, answer
    finally:
        assert dev.stop() == 0
