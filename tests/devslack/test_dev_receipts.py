"""Dev mode signs receipts out of the box (#38): with no signing key of yours it makes one for the run in a
temporary directory of its own (0600, said in a comment line, removed at the stop), and an approval made on the
page carries a receipt that verifies with the keys the page's URL publishes; a key file of yours is used as it is.
Real parts: the dev stack in process on the tests' Redis, the stand-in, the real worker."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path
from typing import Any

import aiohttp
from agent_approvals import ApprovalsClient
from agent_approvals.receipts import verify

from bot.core.key_files import ensure_keys_file
from bot.dev import DEV_KEYS_FILE, DevStack
from bot.store.api_keys import id_of_key
from tests.support.dev import APPROVALS, BOB

EMAIL = {"to": "bob@example.com", "body": "Prices go up"}


async def jwks(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(url + "/api/v1/jwks.json") as answer:
        assert answer.status == 200
        return dict(await answer.json())


def kid_in(path: Path) -> str:
    return str(json.loads(path.read_text())["keys"][0]["kid"])


def mode_of(path: Path) -> int | None:
    return stat.S_IMODE(path.stat().st_mode) if path.exists() else None


async def test_dev_makes_a_key_for_the_run_and_receipts_verify(redis_url: str) -> None:
    stack = DevStack(host="127.0.0.1", port=0, environ={"REDIS_URL": redis_url})
    try:
        await stack.start()
        keys_file = Path(stack.keys_dir) / DEV_KEYS_FILE
        assert await asyncio.to_thread(mode_of, keys_file) == 0o600
        said = [line for line in stack.exports() if "receipts are signed" in line]
        assert len(said) == 1 and said[0].startswith("# ") and str(keys_file) in said[0]
        published = await jwks(stack.url)
        assert len(published["keys"]) == 1
        async with ApprovalsClient(stack.url, stack.api_key) as client:
            asked = await client.request_tool("send_email", EMAIL, title="Dev receipt")
            waiting = asyncio.ensure_future(client.wait(asked.id))
            card = await stack.standin.wait_for(
                lambda: [m for m in stack.standin.messages(APPROVALS) if "Dev receipt" in str(m.get("blocks"))]
            )
            clicked = await stack.standin.click(user=BOB, channel=APPROVALS, ts=card[-1]["ts"],
                                                action_id="approval_approve")
            assert clicked.status == 200
            decided = await asyncio.wait_for(waiting, timeout=30)
        assert decided.approved and decided.receipt is not None
        audience = id_of_key(stack.api_key)  # the dev key's id (`python -m bot keys list` shows it)
        claims = verify(decided.receipt, published, tool="send_email", arguments=EMAIL, audience=audience)
        assert claims["sub"] == asked.id and claims["iss"] == stack.url  # dev's PUBLIC_URL
    finally:
        await stack.stop()
    assert await asyncio.to_thread(mode_of, keys_file) is None  # removed with the run


async def test_a_key_file_of_yours_is_used_and_kept(redis_url: str, tmp_path: Path) -> None:
    mine = tmp_path / "mine.json"
    await asyncio.to_thread(ensure_keys_file, mine)
    stack = DevStack(host="127.0.0.1", port=0, environ={"REDIS_URL": redis_url, "SIGNING_KEYS_FILE": str(mine)})
    try:
        await stack.start()
        assert stack.keys_dir == "" and not [line for line in stack.exports() if "receipts are signed" in line]
        published = [key["kid"] for key in (await jwks(stack.url))["keys"]]
        assert published == [await asyncio.to_thread(kid_in, mine)]
    finally:
        await stack.stop()
    assert await asyncio.to_thread(mode_of, mine) == 0o600
