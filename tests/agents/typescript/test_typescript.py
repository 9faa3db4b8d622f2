"""The TypeScript package (agents/typescript/, npm `agent-approvals`) against the Python side.

Its request and answer types are generated from the bot's own OpenAPI document: the committed `src/api.ts` is what
the generator writes now (`python -m tests.support.typescript` after a change of the API). The shared receipt
vectors (tests/support/shared_vectors.py) are answered by the Python verifier as they say; the TypeScript verifier
must answer them alike (its test `vectors.test.ts`). Then the package is compiled (`tsc`, strict) and its tests run
by Node's own runner against a real worker with Redis and the Slack stand-in, the key and the vectors in the
environment, while this test plays the reviewer on the cards its asks make (approve as bob the titles "ts: approve
…", reject with a reason the titles "ts: reject …", revise or edit, approve after a signal: `review`), checks that a
card of fixed arguments says so, and rules approve `send_email` to rule@example.com and ruled@example.com in the
key's channel, and the bot's one Cedar policy (PERMIT, its POLICY_DIR) to policy@example.com: every TypeScript test
must run and pass: the package's own (agents/typescript/test: the client, the receipts) and the suite's project's
(tests/agents/typescript/project/test: the adapters, with the frameworks; AG-UI's with `@ag-ui/client`'s own
`AbstractAgent`, resumed with a receipt that verifies: agui.test.ts). The conformance suite (conformance.ts)
runs the same cases for every adapter (approved, rejected, a double click and a retry, SIGKILL while waiting then
resumed, a forged approval, a policy's permit, the bot unreachable), through a driver per adapter
(conf-<adapter>.ts; Mastra's workflow steps have their own, conf-mastra-workflow.ts): every adapter passes every
case, nothing is skipped; a killed run is finished from what its adapter kept (the AI SDK's conversation in a
FileStateStore, Mastra's runs in its LibSQL storage on a file), never by running the agent again from its prompt.
The framework adapters' tests run on the Node their frameworks need (`ai` 7 and Mastra: Node 22, from the suite's
own project, not the package's: building the package needs no Node 22); the rest on the machine's Node (LangGraph's
conformance driver checkpoints to SQLite through better-sqlite3, built by npm's install for the Node that runs npm:
the machine's).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agent_approvals.receipts import ReceiptError, verify

import bot
from bot.core.allow_rules import Rule, exact_match
from bot.core.version import npm_form
from bot.devslack.server import SlackStandIn
from bot.slack.blocks.approval_card import FIXED_ARGUMENTS
from tests.conftest import BOB, SALES, Worker
from tests.support.artifact_vectors import FILE as ARTIFACT_VECTORS
from tests.support.policies import write_bundle
from tests.support.shared_vectors import vectors, write
from tests.support.signing_worker import signing_bot
from tests.support.source import ROOT
from tests.support.ts_review import review
from tests.support.typescript import (
    API_TS,
    INSTALL,
    NODE22,
    PACKAGE,
    PROJECT,
    api_ts,
    node,
    node22,
    node_test,
)

RULED = ({"to": "rule@example.com", "body": "Prices go up 5% on May 1."},  # ai-sdk, mastra: a rule approves it
         {"to": "ruled@example.com", "body": "Prices go up 5% on May 1."})  # openai-agents, langgraph
# the bot's one policy: send_email to policy@example.com is approved at once, with no card (the conformance suite)
PERMIT = """@id("ts-permit")
permit (principal, action == Action::"send_email", resource)
when { context.args has to && context.args.to == "policy@example.com" };
"""
FRAMEWORKS = ("ai", "@mastra/core", "@mastra/libsql", "@openai/agents", "@langchain/core", "@langchain/langgraph",
              "@langchain/langgraph-checkpoint-sqlite", "zod", "@ag-ui/client", "@ag-ui/core", "rxjs")


@pytest.fixture
async def signer(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> AsyncIterator[tuple[Worker, str]]:
    # every adapter's tests ask with this one key, more than a key's default 120 requests a minute
    policies = write_bundle(tmp_path / "policies", {"ts.cedar": PERMIT})
    async with signing_bot(slack, redis_url, tmp_path / "signing-keys.json", policies, per_minute=2000) as made:
        yield made


@pytest.mark.slow
def test_the_committed_api_types_are_what_the_openapi_document_makes() -> None:
    assert API_TS.read_text() == api_ts(), "src/api.ts drifted from the API: run `python -m tests.support.typescript`"


def test_the_readme_test_command_installs_the_package_and_ci_runs_it_as_written() -> None:
    readme = (ROOT / "README.md").read_text()
    command = readme.split("Run all the tests:\n\n```bash\n", 1)[1].split("\n```", 1)[0]
    assert f"&& {INSTALL} && python -m pytest" in command
    ci = (ROOT / ".ci" / "run").read_text()
    assert command in ci.splitlines()
    assert "npm run --prefix agents/typescript build" in ci  # tsc, strict (tsconfig.json), beside ruff and mypy
    assert "npm run --prefix agents/typescript lint" in ci  # eslint and prettier --check, as ruff is for Python
    package = json.loads((PACKAGE / "package.json").read_text())
    assert package["scripts"]["lint"] == "eslint . && prettier --check src test build.mjs"
    # every adapter strict, with its framework: the suite's project builds the package through its link
    assert "npm run --prefix tests/agents/typescript/project build" in ci
    assert {"eslint", "prettier", "typescript-eslint"} <= set(package["devDependencies"])
    # Node 22 and the frameworks are the suite's, in its own project: installing the package downloads none of them
    assert set(package["dependencies"]) == {"jose"}
    assert not {"node", *FRAMEWORKS} & set(package["devDependencies"]), package["devDependencies"]
    assert "allowScripts" not in package
    assert {"ai", "@mastra/core", "@openai/agents", "@langchain/langgraph", "@ag-ui/client"} <= set(
        package["peerDependencies"])
    assert all(meta == {"optional": True} for meta in package["peerDependenciesMeta"].values())
    assert package["scripts"]["prepare"] == "node build.mjs"  # a folder install builds dist/ (see the fresh user)
    suite = json.loads((PROJECT / "package.json").read_text())
    assert suite["devDependencies"]["node"].startswith("^22")
    assert {*FRAMEWORKS, "typescript"} <= set(suite["devDependencies"])
    assert suite["devDependencies"]["agent-approvals"] == "file:../../../../agents/typescript"
    assert not list((PACKAGE / "test").glob("conf*.ts"))  # what needs a framework is the suite's
    for test in (PACKAGE / "test").glob("*.ts"):
        assert not re.search(r'from "(ai|@mastra/|@openai/|@langchain/|zod)', test.read_text()), test.name
    assert command in (ROOT / "docs" / "contributors" / "tests.md").read_text()
    assert "node_modules" in (PACKAGE / ".gitignore").read_text().splitlines()  # a folder, or a link to one


def answer(vector: dict[str, Any], made: dict[str, Any]) -> str:
    try:
        verify(vector["receipt"], made["jwks"], tool=vector["tool"], arguments=vector["arguments"],
               audience=vector["audience"], issuer=vector["issuer"], now=made["now"], leeway=made["leeway"])
    except ReceiptError as error:
        return error.reason
    return "ok"


def test_the_python_verifier_answers_each_shared_vector_as_it_says() -> None:
    made = json.loads(json.dumps(vectors()))  # as the TypeScript side reads them: through JSON
    assert {v["name"]: answer(v, made) for v in made["vectors"]} == {v["name"]: v["expect"] for v in made["vectors"]}
    reasons = {v["expect"] for v in made["vectors"]}
    assert reasons >= {"ok", "bad_signature", "malformed", "unknown_key", "expired", "not_yet_valid", "wrong_tool",
                       "wrong_arguments", "wrong_audience", "wrong_issuer"}


@pytest.mark.slow
async def test_the_typescript_package_against_a_real_bot(
    signer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path, typescript_built: None
) -> None:
    bot, key = signer
    for ruled in RULED:
        rule = Rule(id="", scope="channel", channel=SALES, run="", match=exact_match("send_email", ruled),
                    created_by=BOB, created_at=0, expires_at=2e10)
        assert await bot.services.store.rules.create(rule)
    write(tmp_path / "vectors.json")
    signals = tmp_path / "signals"
    signals.mkdir()
    env = {**os.environ, "AGENT_APPROVALS_URL": bot.url, "AGENT_APPROVALS_KEY": key,
           "RECEIPT_VECTORS": str(tmp_path / "vectors.json"), "ARTIFACT_VECTORS": str(ARTIFACT_VECTORS),
           "TS_SIGNALS": str(signals)}
    own = sorted((PACKAGE / "test").glob("*.test.ts"))
    suite = sorted((PROJECT / "test").glob("*.test.ts"))
    adapters = [p for p in suite if p.name in NODE22]
    done = asyncio.Event()
    shown: list[str] = []
    reviewer = asyncio.create_task(review(slack, done, shown, signals))
    try:
        await node_test(node(), own, env)
        await node_test(node(), [p for p in suite if p not in adapters], env)
        await node_test(node22(), adapters, env)
    finally:
        done.set()
        decided = await reviewer
    assert sorted(decided) == ["approved"] * 41 + ["edited"] * 4 + ["rejected"] * 11 + ["revised"] * 4, decided
    # the adapters' cards say the arguments cannot be edited (no rule's card; the forged, cancelled and self-approved
    # ones may be withdrawn before they are seen)
    # approve, reject, revise, leave (and the AI SDK's signed one)
    for framework, least in (("(AI SDK)", 5), ("mailer (Mastra)", 4)):
        cards = [text for text in shown if framework in text]
        assert len(cards) >= least and all(FIXED_ARGUMENTS in text for text in cards), cards
    steps = [text for text in shown if "workflow (Mastra)" in text]  # a workflow's step runs the edited arguments
    assert len(steps) >= 3 and not any(FIXED_ARGUMENTS in text for text in steps), steps


CONSUMER = """
import { ApprovalsClient, FileStateStore, verifyReceipt } from "agent-approvals";
console.log(typeof ApprovalsClient, typeof FileStateStore, typeof verifyReceipt,
            JSON.stringify(new ApprovalsClient({ url: "http://bot/api/v1/", key: "k" }).urls));
"""
TYPED = """
import { ApprovalsClient, FileStateStore, verifyReceipt, type Approval } from "agent-approvals";
const client = new ApprovalsClient({ url: "http://bot", key: "k", title: "typed" });
export async function decide(): Promise<string> {
  const decided: Approval = await client.toolDecision({ tool: "send_email", arguments: { to: "bob" }, atMost: 1 });
  const by: string | undefined = decided.decidedBy;
  await new FileStateStore("states").save(decided.id, decided.status);
  await verifyReceipt(decided.receipt, { jwksUrl: "http://bot/api/v1/jwks.json", tool: "t", arguments: {} });
  return `${decided.approved} ${by ?? ""}`;
}
// @ts-expect-error: no such option (the options are typed)
new ApprovalsClient({ urll: "http://bot" });
"""


def run(*command: str, cwd: Path) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.slow
def test_the_packed_package_installs_by_name_with_its_types_and_only_jose(tmp_path: Path) -> None:
    npm = shutil.which("npm")
    assert npm is not None, "npm is not installed (apt-get install npm)"
    copy = tmp_path / "agent-approvals"  # built apart: the test against a bot builds in place
    for folder in ("src", "test"):
        shutil.copytree(PACKAGE / folder, copy / folder)
    for name in ("package.json", "package-lock.json", "tsconfig.json", "build.mjs"):
        shutil.copy(PACKAGE / name, copy / name)
    (copy / "node_modules").symlink_to(PACKAGE / "node_modules")
    # a pack holds every adapter (prepack: build.mjs --all): the frameworks beside it, as scripts/release.py packs it
    (tmp_path / "node_modules").symlink_to(PROJECT / "node_modules")
    run(npm, "pack", "--pack-destination", str(tmp_path), cwd=copy)
    (tmp_path / "node_modules").unlink()  # the consumer finds none above it
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    (consumer / "package.json").write_text(json.dumps({"name": "consumer", "private": True, "type": "module"}))
    run(npm, "install", "--no-audit", "--no-fund", "--prefer-offline",
        str(tmp_path / f"agent-approvals-{npm_form(bot.__version__)}.tgz"), cwd=consumer)
    assert sorted(p.name for p in (consumer / "node_modules").iterdir()) == [".package-lock.json", "agent-approvals",
                                                                                "jose"]
    (consumer / "main.mjs").write_text(CONSUMER)
    assert run(node(), "main.mjs", cwd=consumer).split() == ["function", "function", "function", '["http://bot"]']
    (consumer / "typed.ts").write_text(TYPED)
    run(node(), str(PACKAGE / "node_modules" / "typescript" / "bin" / "tsc"), "--noEmit", "--strict", "--target",
        "es2022", "--module", "nodenext", "--moduleResolution", "nodenext", "--types", "node", "--typeRoots",
        str(PACKAGE / "node_modules" / "@types"), "typed.ts", cwd=consumer)
