"""The MCP gateway checks the bot at start (#35): an unreachable `--url`, a URL that is not the bot, or a refused
key is one line on stderr and exit code 2, before any upstream is started or any client served. Real worker (the
`api` fixture), the installed `agent-approvals-mcp` console script."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError

from tests.conftest import Worker, free_port
from tests.support.api import new_key
from tests.support.mcp_gateway import EMAIL, GATEWAY, over_stdio, text

pytestmark = pytest.mark.slow  # the gateway as a process

UPSTREAM_NEVER = [sys.executable, "-c", "import sys; open(sys.argv[1], 'w').write('started')"]


async def gateway(url: str, key: str, marker: Path) -> subprocess.CompletedProcess[str]:
    """The gateway in front of an upstream that notes in `marker` that it was started (it must not be)."""
    command = [str(GATEWAY), "--url", url, "--key-env", "GW_START_KEY", "--", *UPSTREAM_NEVER, str(marker)]
    return await asyncio.to_thread(
        subprocess.run, command, env={**os.environ, "GW_START_KEY": key}, capture_output=True, text=True,
        timeout=60, stdin=subprocess.DEVNULL, check=False,
    )


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    return lines[0]


async def test_an_unreachable_url_fails_fast(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    line = one_line(await gateway(url, "k-anything", tmp_path / "started"))
    assert line.startswith(f"agent-approvals-mcp: {url} is unreachable (ConnectError)"), line
    assert not (tmp_path / "started").exists()


async def test_a_refused_key_fails_fast_without_showing_it(api: Worker, tmp_path: Path) -> None:
    line = one_line(await gateway(api.url, "k-wrong-0123456789", tmp_path / "started"))
    assert line == (f"agent-approvals-mcp: the bot at {api.url} refused the API key in $GW_START_KEY (HTTP 401:"
                    " wrong or revoked)"), line
    assert "k-wrong" not in line and not (tmp_path / "started").exists()

    made = await new_key(api, "gw-revoked")
    assert await api.services.store.api_keys.revoke("gw-revoked", by="test")
    line = one_line(await gateway(api.url, made.key, tmp_path / "started"))
    assert "refused the API key" in line and made.key not in line


async def test_a_url_that_is_not_the_bot_fails_fast(api: Worker, tmp_path: Path) -> None:
    line = one_line(await gateway(api.url + "/healthz", "k-anything", tmp_path / "started"))
    assert "does not serve the Approvals API" in line and "HTTP 404" in line, line


async def test_a_standing_key_gets_past_the_check(
    api: Worker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With the bot reachable and the key standing, the gateway goes on and starts its upstream; the bot logs no
    warning for the check (it reads `GET /api/v1/key`, not an approval nobody has), also given `.../api/v1/`."""
    made = await new_key(api, "gw-start")
    caplog.set_level(logging.INFO, logger="bot")
    done = await gateway(api.url + "/api/v1/", made.key, tmp_path / "started")
    assert (tmp_path / "started").read_text() == "started", done.stderr  # the upstream was started
    assert "refused" not in done.stderr and "unreachable" not in done.stderr
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_a_key_revoked_after_the_start_is_a_clear_error_on_the_call(
    emailer: tuple[Worker, str], tmp_path: Path
) -> None:
    """(What a wrong key did before the start check: a key revoked while the gateway serves still gets a clear
    error on the call, and nothing runs.)"""
    bot, key = emailer
    async with over_stdio(bot, key, tmp_path) as gw:
        assert await bot.services.store.api_keys.revoke("emailer", by="test")
        with pytest.raises(MCPError, match="could not ask for an approval of send_email: 401"):
            await gw.session.call_tool("send_email", dict(EMAIL))
        unaudited = await gw.session.call_tool("list_inbox", {})  # allowed, but it cannot be audited: not run
        assert unaudited.is_error and "could not be recorded in the approvals audit log (401" in text(unaudited)
        assert gw.calls() == [] and key not in gw.logged()
