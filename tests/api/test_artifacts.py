"""An ask's artefacts (#79, `agent_approvals.artifacts`): each checked (400 naming the field, nothing posted), kept
with the SHA-256 of the artefact as asked (the API answers each one's kind and digest, the same as the client's
`artifact_sha256` computes), and never kept in the clear where it carries a secret (its texts go through the one door
of free text before they are stored)."""

from __future__ import annotations

from typing import Any

import pytest
from agent_approvals import ApprovalsClient
from agent_approvals.artifacts import (
    ArtifactError,
    artifact_sha256,
    command,
    disk_mismatch,
    file_change,
    message,
    normalised,
    text_sha256,
)

from bot.devslack.server import SlackStandIn
from tests.conftest import APPROVALS, Worker
from tests.support.api import Client, new_key, tool_ask
from tests.support.leaks import redis_dump

CARD = "4111 1111 1111 1111"
BEFORE = "".join(f"line {n}\n" for n in range(1, 40))
AFTER = BEFORE.replace("line 7\n", "line seven\n")


@pytest.mark.parametrize("artifacts, field", [
    ("a file", "artifacts"),
    ([{"path": "a.txt"}], "artifacts[0].kind"),
    ([{"kind": "file", "after": "x"}], "artifacts[0].path"),
    ([{"kind": "file", "path": "a.txt"}], "artifacts[0].after"),
    ([{"kind": "file", "path": "a.txt", "diff": "@@ -1 +1 @@\n-a\n+b\n"}], "artifacts[0].before_sha256"),
    ([{"kind": "file", "path": "a.txt", "before": "a", "after": "b", "before_sha256": "0" * 64}],
     "artifacts[0].before_sha256"),
    ([{"kind": "command", "command": "ls", "shell": "bash"}], "artifacts[0].shell"),
    ([{"kind": "message", "to": [], "body": "hi"}], "artifacts[0].to"),
    ([{"kind": "query", "sql": 7}], "artifacts[0].sql"),
    ([{"kind": "command", "command": "ls"}] * 21, "artifacts"),
    *(([{"kind": "file", "path": path, "after": "x"}], "artifacts[0].path")  # out of the executor's root (#87)
      for path in ("/etc/passwd", "../x", "a/../../x", "C:\\x", "\\\\server\\x")),
])
async def test_a_bad_artefact_is_refused_naming_its_field(
    api: Worker, slack: SlackStandIn, artifacts: Any, field: str
) -> None:
    client = Client(api, (await new_key(api)).key)
    status, answer = await client.ask(tool_ask(artifacts=artifacts))
    assert status == 400 and answer["error"]["field"] == field, answer
    assert field in answer["error"]["message"], answer
    assert slack.messages(APPROVALS) == []


async def test_the_plane_keeps_each_artefacts_digest_and_no_secret_in_the_clear(
    api: Worker, slack: SlackStandIn, redis_url: str
) -> None:
    key = (await new_key(api)).key
    asked = [file_change("src/prices.py", BEFORE, AFTER + f"CARD = '{CARD}'\n"), command("make deploy", cwd="/srv"),
             message(["bob@example.com"], f"Card {CARD} is charged.", subject="Prices")]
    async with ApprovalsClient(api.url, key=key) as client:
        approval = await client.request_tool("send_email", {"to": "bob@example.com"}, title="Prices",
                                             requester="U0ALICE", artifacts=asked)
        again = await client.get(approval.id)
    expected = [artifact_sha256(artifact) for artifact in asked]
    assert [item["sha256"] for item in approval.artifacts] == expected == [item["sha256"] for item in again.artifacts]
    assert [item["kind"] for item in approval.artifacts] == ["file", "command", "message"]
    assert approval.artifacts[0]["path"] == "src/prices.py"
    assert approval.artifacts[0]["before_sha256"] == text_sha256(BEFORE)
    dumped = await redis_dump(redis_url)
    assert "line seven" in dumped  # the change is kept
    assert CARD not in dumped and CARD.replace(" ", "") not in dumped


async def test_the_python_client_refuses_a_bad_artefact_before_asking(api: Worker, slack: SlackStandIn) -> None:
    async with ApprovalsClient(api.url, key=(await new_key(api)).key) as client:
        with pytest.raises(ArtifactError, match=r"artifacts\[0\]\.kind"):
            await client.request_tool("send_email", {}, artifacts=[{"kind": "picture"}])
    assert slack.messages(APPROVALS) == []


def test_the_digest_is_of_the_normalised_artefact() -> None:
    assert normalised({"kind": "command", "command": "ls"}) == {"kind": "command", "command": "ls", "cwd": None}
    assert artifact_sha256({"kind": "command", "command": "ls"}) == artifact_sha256(command("ls"))
    assert artifact_sha256(command("ls")) != artifact_sha256(command("ls -la"))
    assert artifact_sha256({**command("ls"), "sha256": "whatever"}) == artifact_sha256(command("ls"))


def test_the_file_on_disk_must_still_be_the_approved_before(tmp_path: Any) -> None:
    (tmp_path / "a.txt").write_text(BEFORE)
    change = file_change("a.txt", BEFORE, AFTER)
    assert disk_mismatch(change, tmp_path) is None
    (tmp_path / "a.txt").write_text(BEFORE + "more\n")
    assert "changed after the approval" in (disk_mismatch(change, tmp_path) or "")
    (tmp_path / "a.txt").unlink()
    assert "no longer exists" in (disk_mismatch(change, tmp_path) or "")
    new = file_change("b.txt", None, "hello\n")
    assert disk_mismatch(new, tmp_path) is None
    (tmp_path / "b.txt").write_text("sneaked in\n")
    assert "new file" in (disk_mismatch(new, tmp_path) or "")
    assert disk_mismatch(command("ls"), tmp_path) is None
