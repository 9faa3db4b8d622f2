"""The receipt binds the artefacts (#79): a receipt names each artefact's digest (`artifacts`), and the executor
that gives the artefacts it is about to apply is refused for any other (`wrong_artifacts`), and for a file change
whose file on disk is no longer the approved `before` (`disk_mismatch`); nothing runs and nothing is spent.

Against a real worker that signs (tests/support/signing_worker.py) a program asks with the change itself, bob
approves on the card, and the receipt verifies for that artefact, is refused for another, and for it once its file
has changed; and the shared vectors (tests/agents/receipts/artifact_vectors.json, which the TypeScript package's
tests read too) are answered as they say."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agent_approvals import ApprovalsClient, ReceiptChecker, ReceiptError, receipt_extension, requires_receipt, verify
from agent_approvals.artifacts import ArtifactError, artifact_sha256, command, file_change, message, normalised
from agent_approvals.receipts import META_KEY, args_sha256

from bot.api.receipts import UnboundArtifacts, artifact_digests, receipt_claims
from bot.core.records import ApprovalRecord
from bot.devslack.server import SlackStandIn
from bot.store.api_keys import id_of_key
from tests.conftest import BOB, Worker, free_port
from tests.support.artifact_vectors import FILE, vectors
from tests.support.hitl import click, nth_card
from tests.support.lazy import lazy
from tests.support.receipts import EMAIL, Issuer, joserfc_claims
from tests.support.signing_worker import ISSUER, signing_bot

mcp = lazy("mcp")  # imported by the test that uses it (tests/support/lazy.py)
mcpserver = lazy("mcp.server.mcpserver")
MADE = json.loads(FILE.read_text())
BEFORE = "".join(f"PRICE_{n} = {n * 10}\n" for n in range(1, 60))
AFTER = BEFORE.replace("PRICE_7 = 70\n", "PRICE_7 = 75\n")
ARGUMENTS = {"path": "prices.py", "old_string": "PRICE_7 = 70", "new_string": "PRICE_7 = 75"}


def answer(vector: dict[str, Any], root: Path) -> str:
    """What `verify` says of a receipt vector: "ok" or the refusal's reason (its files written under `root`)."""
    if vector["files"] is not None:
        for path, text in vector["files"].items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(text.encode())
    try:
        verify(vector["receipt"], MADE["jwks"], tool=vector["tool"], arguments=vector["arguments"],
               artifacts=vector["artifacts"], root=None if vector["files"] is None else root, now=MADE["now"],
               leeway=MADE["leeway"])
    except ReceiptError as error:
        return error.reason
    return "ok"


def test_the_python_side_answers_every_shared_artefact_vector_as_it_says(tmp_path: Path) -> None:
    assert [artifact_sha256(v["artifact"]) for v in MADE["artifacts"]] == [v["sha256"] for v in MADE["artifacts"]]
    for vector in MADE["invalid"]:
        with pytest.raises(ArtifactError) as raised:
            normalised(vector["artifact"])
        assert raised.value.field == vector["field"], vector
    answers = {v["name"]: answer(v, tmp_path / str(n)) for n, v in enumerate(MADE["receipts"])}
    assert answers == {v["name"]: v["expect"] for v in MADE["receipts"]}
    assert set(answers.values()) == {"ok", "wrong_artifacts", "disk_mismatch", "malformed"}


def test_the_committed_vectors_are_what_the_generator_makes() -> None:
    made = vectors()  # (a new key: the receipts differ, what they are checked for does not)
    assert made["artifacts"] == MADE["artifacts"] and made["invalid"] == MADE["invalid"]
    keep = ("name", "tool", "arguments", "artifacts", "files", "expect")
    assert [{k: v[k] for k in keep} for v in json.loads(json.dumps(made["receipts"]))] == \
        [{k: v[k] for k in keep} for v in MADE["receipts"]], "run `python -m tests.support.artifact_vectors`"
    assert all("d" not in key for key in MADE["jwks"]["keys"])  # the public half only


def test_verify_reads_no_file_out_of_its_root_nor_one_it_would_wait_on(tmp_path: Path) -> None:
    """#87: a file change whose path a symbolic link takes out of `root` is not read (`disk_mismatch`), nor is a FIFO
    (no writer: a read would wait for ever), at once; a path that is absolute or climbs out is no artefact."""
    issuer, change = Issuer(), file_change("prices.py", BEFORE, AFTER)
    receipt = issuer.issue("apply_change", ARGUMENTS, artifacts=[artifact_sha256(change)])
    root, elsewhere, piped = tmp_path / "root", tmp_path / "elsewhere", tmp_path / "piped"
    for folder in (root, elsewhere, piped):
        folder.mkdir()
    (elsewhere / "prices.py").write_text(BEFORE)  # as approved, but not under root
    (root / "prices.py").symlink_to(elsewhere / "prices.py")
    os.mkfifo(piped / "prices.py")
    for where, why in ((root, "prices.py leads out of the root (a symbolic link): it is not read"),
                       (piped, "prices.py cannot be read (not a regular file: a FIFO)")):
        with pytest.raises(ReceiptError) as refused:
            verify(receipt, issuer.jwks(), tool="apply_change", arguments=ARGUMENTS, artifacts=[change], root=where)
        assert (refused.value.reason, refused.value.message) == ("disk_mismatch", why)
    with pytest.raises(ReceiptError) as refused:
        verify(receipt, issuer.jwks(), tool="apply_change", arguments=ARGUMENTS, root=elsewhere,
               artifacts=[{**change, "path": str(elsewhere / "prices.py")}])
    assert refused.value.reason == "wrong_artifacts" and "must be relative" in refused.value.message


def record(**changed: Any) -> ApprovalRecord:
    return ApprovalRecord(id="a-1", run_id="", owner="", requester="", origin_channel="", card_channel="", task="",
                          proposal="", author="emailer", created_at=0, deadline=0, timeout_seconds=0,
                          kind="tool_call", tool_name="apply_change", arguments=json.dumps(ARGUMENTS),
                          status="approved", decided_by=BOB, asked_by="emailer", **changed)


async def test_the_claim_names_each_artefacts_kept_digest_in_order_or_there_is_no_receipt() -> None:
    change, run = file_change("prices.py", BEFORE, AFTER), command("make deploy")
    kept = json.dumps([{**change, "sha256": artifact_sha256(change)}, {**run, "sha256": artifact_sha256(run)}])
    claims = await receipt_claims(record(artifacts=kept), issuer=ISSUER, ttl=600, now=1e9, jti="rcpt_1")
    assert claims["artifacts"] == [artifact_sha256(change), artifact_sha256(run)]
    assert claims["args_sha256"] == args_sha256(ARGUMENTS)
    assert "artifacts" not in await receipt_claims(record(), issuer=ISSUER, ttl=600, now=1e9, jti="rcpt_2")
    for unreadable in ("[{", '[{"kind": "command"}]', "[]", '{"sha256": "ab"}', json.dumps([{"sha256": "A" * 64}])):
        with pytest.raises(UnboundArtifacts):
            artifact_digests(record(artifacts=unreadable))


@pytest.mark.slow
async def test_an_mcp_servers_guard_checks_the_artefacts_each_tool_applies(tmp_path: Path) -> None:
    (tmp_path / "prices.py").write_text(BEFORE)
    issuer, ran = Issuer(), []
    checker = ReceiptChecker(f"http://127.0.0.1:{free_port()}", jwks=issuer.jwks(), retry_for=0.2)  # (no bot)
    applies = {"send_email": lambda a: [message(a["to"], a["body"])],
               "apply_change": lambda a: [file_change(a["path"], BEFORE, AFTER)]}
    server = mcpserver.MCPServer("mailbox", extensions=[receipt_extension(checker, artifacts=applies, root=tmp_path)])

    @server.tool()
    async def send_email(to: str, body: str) -> str:
        ran.append(to)
        return f"sent to {to}"

    @server.tool()
    async def apply_change(path: str, old_string: str, new_string: str) -> str:
        ran.append(path)
        return "applied"

    sent = artifact_sha256(message(EMAIL["to"], EMAIL["body"]))
    other = artifact_sha256(message(EMAIL["to"], "Prices go up 50%."))
    change = artifact_sha256(file_change("prices.py", BEFORE, AFTER))
    calls = [("send_email", EMAIL, [other], "wrong_artifacts"), ("send_email", EMAIL, None, "wrong_artifacts"),
             ("send_email", EMAIL, [sent], "unavailable"),  # the artefact as approved: then spent (no bot here)
             ("apply_change", ARGUMENTS, [change], "disk_mismatch")]
    (tmp_path / "prices.py").write_text(BEFORE + "# changed since\n")
    async with mcp.Client(server) as client:
        for tool, arguments, bound, reason in calls:
            receipt = issuer.issue(tool, arguments, **({} if bound is None else {"artifacts": bound}))
            result = await client.call_tool(tool, dict(arguments), meta={META_KEY: receipt})  # type: ignore[arg-type]
            text = "\n".join(getattr(c, "text", "") for c in result.content)
            assert result.is_error and text.startswith(f"Not run: {reason}:"), (tool, bound, text)
    assert ran == []
    await checker.aclose()


@pytest.fixture
async def signer(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> AsyncIterator[tuple[Worker, str]]:
    async with signing_bot(slack, redis_url, tmp_path / "signing-keys.json") as made:
        yield made


@pytest.mark.slow
async def test_a_receipt_for_artefact_a_is_refused_for_b_and_once_the_file_changed(
    signer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    bot, key = signer
    (tmp_path / "prices.py").write_text(BEFORE)
    change = file_change("prices.py", BEFORE, AFTER)
    async with ApprovalsClient(bot.url, key, title="Edit prices.py") as client:
        asked = await client.request_tool("apply_change", ARGUMENTS, artifacts=[change])
        await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
        decided = await client.wait(asked.id, at_most=30)
    assert decided.approved and decided.receipt
    checker = ReceiptChecker(bot.url, audience=id_of_key(key), issuer=ISSUER)
    jwks = dict(await checker.keys())
    assert joserfc_claims(decided.receipt, jwks)[1]["artifacts"] == [artifact_sha256(change)]

    def refusal(artifacts: Any, root: Path | None = None) -> str:
        with pytest.raises(ReceiptError) as raised:
            verify(decided.receipt or "", jwks, tool="apply_change", arguments=ARGUMENTS, artifacts=artifacts,
                   root=root)
        return raised.value.reason

    assert verify(decided.receipt, jwks, tool="apply_change", arguments=ARGUMENTS, artifacts=[change], root=tmp_path)
    other = file_change("prices.py", BEFORE, AFTER.replace("75", "57"))  # B: what the reviewer never saw
    assert refusal([other]) == refusal(None) == refusal([change, change]) == refusal([]) == "wrong_artifacts"

    applied: list[str] = []

    @requires_receipt(checker, artifacts=lambda a: [file_change(a["path"], BEFORE, AFTER)], root=tmp_path)
    async def apply_change(path: str, old_string: str, new_string: str) -> None:
        target = tmp_path / path
        target.write_text(target.read_text().replace(old_string, new_string))
        applied.append(path)

    @requires_receipt(checker, tool="apply_change", artifacts=lambda a: [other], root=tmp_path)
    async def apply_other(path: str, old_string: str, new_string: str) -> None:
        applied.append("other")

    with pytest.raises(ReceiptError) as raised:
        await apply_other(**ARGUMENTS, receipt=decided.receipt)
    assert raised.value.reason == "wrong_artifacts"
    (tmp_path / "prices.py").write_text(BEFORE.replace("PRICE_9 = 90", "PRICE_9 = 99"))  # changed after the approval
    assert refusal([change], tmp_path) == "disk_mismatch"
    with pytest.raises(ReceiptError) as raised:
        await apply_change(**ARGUMENTS, receipt=decided.receipt)
    assert raised.value.reason == "disk_mismatch" and "prices.py was changed after the approval" in str(raised.value)
    assert applied == []  # nothing ran, and nothing was spent: as approved again, it runs, once
    (tmp_path / "prices.py").write_text(BEFORE)
    await apply_change(**ARGUMENTS, receipt=decided.receipt)
    assert applied == ["prices.py"] and (tmp_path / "prices.py").read_text() == AFTER
    with pytest.raises(ReceiptError) as raised:  # the file is the approved `after` now
        await apply_change(**ARGUMENTS, receipt=decided.receipt)
    assert raised.value.reason == "disk_mismatch" and applied == ["prices.py"]
    with pytest.raises(ReceiptError) as raised:
        await checker.check(decided.receipt, tool="apply_change", arguments=ARGUMENTS, artifacts=[change], root=None)
    assert raised.value.reason == "used"
    await checker.aclose()


@pytest.mark.slow
async def test_a_receipt_without_artefacts_works_as_before_and_binds_none(
    signer: tuple[Worker, str], slack: SlackStandIn
) -> None:
    bot, key = signer
    async with ApprovalsClient(bot.url, key, title="Tell Bob") as client:
        asked = await client.request_tool("apply_change", ARGUMENTS)
        await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
        decided = await client.wait(asked.id, at_most=30)
    assert decided.receipt
    async with ReceiptChecker(bot.url) as checker:
        jwks = dict(await checker.keys())
        assert "artifacts" not in verify(decided.receipt, jwks, tool="apply_change", arguments=ARGUMENTS)
        with pytest.raises(ReceiptError) as raised:  # a change the approval never bound
            verify(decided.receipt, jwks, tool="apply_change", arguments=ARGUMENTS, artifacts=[command("ls")])
        assert raised.value.reason == "wrong_artifacts"
        assert await checker.check(decided.receipt, tool="apply_change", arguments=ARGUMENTS)
