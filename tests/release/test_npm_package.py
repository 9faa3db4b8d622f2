"""The npm package as a user installs it: the release's tarball (tests/release/conftest.py) published to a local
registry the test starts (verdaccio, installed by .ci/run into .ci/cache/verdaccio; every other package through it
from npm's registry), then `agent-approvals` installed by name in a fresh project, once with each framework: each
subpath imports (on Node 22, which the AI SDK 7 and Mastra need), its types resolve under `moduleResolution`
`node16` and `bundler` (tsc, strict; `skipLibCheck`: checking Mastra's own declarations takes minutes; the package's
are tsc's output, strict, and arethetypeswrong checks them at pack time), and the client alone on the machine's
Node 20. Then, in the same projects, each adapter runs a scripted approval (no model, no network) against a real
worker: the suite's own test of it (tests/agents/typescript/project/test/<adapter>.test.ts, its first test: the tool
runs once after bob approves), compiled there and run against the package installed by name, while the reviewer of
tests/agents/typescript/test_typescript.py approves its card."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import bot
from bot.core.version import is_development, npm_form
from bot.devslack.server import SlackStandIn
from tests.conftest import Worker, free_port
from tests.support.dev import http, wait_until
from tests.support.release import answers
from tests.support.source import ROOT
from tests.support.ts_review import review
from tests.support.typescript import PROJECT, node, node22

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # a registry, and npm installs through it

VERSION = npm_form(bot.__version__)  # npm's form of it (X.Y.Z-dev.N between releases)
TAG = "dev" if is_development(bot.__version__) else "latest"  # npm wants a tag of its own for a development version
VERDACCIO = ROOT / ".ci" / "cache" / "verdaccio" / "node_modules" / ".bin" / "verdaccio"
SUITE = json.loads((PROJECT / "package.json").read_text())["devDependencies"]  # the framework versions tested
FRAMEWORKS = {  # subpath: what a project installs beside the package for it (the suite's versions)
    "ai-sdk": ("ai", "zod"),
    "mastra": ("@mastra/core", "zod"),
    "openai-agents": ("@openai/agents", "zod"),
    "langgraph": ("@langchain/langgraph", "@langchain/core"),
}
# each adapter's scripted approval: the suite's test file (and the files it imports from test/), what more it imports
# (Mastra's: the AI SDK's mock model, its LibSQL store) and its test of the tool run once after bob approves
SCRIPTED = {
    "ai-sdk": (("ai-sdk.test.ts", "env.ts"), ()),
    "mastra": (("mastra.test.ts", "env.ts"), ("ai", "@mastra/libsql")),
    "openai-agents": (("openai-agents.test.ts", "env.ts", "oa-mailer.ts"), ()),
    "langgraph": (("langgraph.test.ts", "env.ts"), ()),
}
APPROVED_ONCE = r"^(ai-sdk|mastra|oa|lg): the (tool|call) runs once, after bob approves"
CONFIG = """storage: {storage}
auth:
  htpasswd:
    file: {storage}/htpasswd
    max_users: 10
uplinks:
  npmjs:
    url: {upstream}
packages:
  'agent-approvals':
    access: $all
    publish: $authenticated
  '**':
    access: $all
    proxy: npmjs
listen: 127.0.0.1:{port}
log: {{type: stdout, format: pretty, level: warn}}
"""


def clean_env() -> dict[str, str]:
    """The environment without npm's and node's settings of the run (a user's shell has none)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("npm_config_", "NODE_OPTIONS"))}


def npm(*args: str, cwd: Path, userconfig: Path) -> str:
    env = clean_env()
    done = subprocess.run(["npm", *args, "--userconfig", str(userconfig), "--no-audit", "--no-fund"], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"npm {' '.join(args)}:\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def registry(released: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A verdaccio holding this release's `agent-approvals` (published by a user of its own): the `.npmrc` that
    points npm at it."""
    _, dist = released
    where = tmp_path_factory.mktemp("verdaccio")
    port = free_port()
    upstream = subprocess.run(["npm", "config", "get", "registry"], capture_output=True, text=True,
                              check=True).stdout.strip()
    (where / "config.yaml").write_text(CONFIG.format(storage=where / "storage", upstream=upstream, port=port))
    log = (where / "verdaccio.log").open("wb")
    server = subprocess.Popen([node(), str(VERDACCIO.resolve()), "--config", str(where / "config.yaml")],
                              stdout=log, stderr=subprocess.STDOUT, cwd=where)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until(lambda: answers(server, url + "-/ping"), timeout=60, what=f"verdaccio ({where / 'verdaccio.log'})")
        status, answer = http("PUT", url + "-/user/org.couchdb.user:release", {
            "name": "release", "password": "release-test-password", "type": "user", "roles": []})
        assert status == 201, answer
        npmrc = where / ".npmrc"
        npmrc.write_text(f"registry={url}\n//127.0.0.1:{port}/:_authToken={answer['token']}\n")
        npm("publish", str(dist / f"agent-approvals-{VERSION}.tgz"), "--tag", TAG, cwd=where, userconfig=npmrc)
        yield npmrc
    finally:
        server.terminate()
        server.wait(timeout=15)
        log.close()


def project(where: Path, npmrc: Path, *packages: str) -> Path:
    """A fresh project installing `agent-approvals` by name and `packages` (at the suite's versions)."""
    where.mkdir()
    (where / "package.json").write_text(json.dumps({"name": "fresh", "private": True, "type": "module"}))
    npm("install", f"agent-approvals@{TAG}", *[f"{name}@{SUITE[name]}" for name in packages], cwd=where,
        userconfig=npmrc)
    return where


def checked(where: Path, subpath: str) -> list[str]:
    """What fails in `where` for `subpath`: its import on Node 22, its types under node16 and bundler."""
    problems = []
    module = "agent-approvals" + ("" if subpath == "." else f"/{subpath}")
    ran = subprocess.run([node22(), "--input-type=module", "-e",
                          f"const m = await import({module!r}); console.log(Object.keys(m).sort().join(','))"],
                         cwd=where, capture_output=True, text=True, timeout=120, check=False)
    if ran.returncode != 0 or not ran.stdout.strip():
        problems.append(f"import {module}: {ran.stderr[-1500:]}")
    (where / "check.ts").write_text(f'import * as adapter from "{module}";\nimport {{ ApprovalsClient }} from'
                                    ' "agent-approvals";\nexport const seen = [adapter, ApprovalsClient];\n')
    tsc = PROJECT / "node_modules" / "typescript" / "bin" / "tsc"
    for resolution, module_kind in (("node16", "node16"), ("bundler", "esnext")):
        typed = subprocess.run([node(), str(tsc), "--noEmit", "--strict", "--module", module_kind,
                                "--moduleResolution", resolution, "--target", "es2022", "--types", "node",
                                "--skipLibCheck",  # the frameworks' own declarations: minutes (Mastra's), not ours
                                "--typeRoots", str(PROJECT / "node_modules" / "@types"), "check.ts"],
                               cwd=where, capture_output=True, text=True, timeout=300, check=False)
        if typed.returncode != 0:
            problems.append(f"tsc --moduleResolution {resolution}: {typed.stdout[-1500:]}")
    return problems


@pytest.fixture(scope="module")
def projects(registry: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A fresh project per adapter, installing `agent-approvals` by name beside its framework, all at once."""
    where = tmp_path_factory.mktemp("projects")

    def one(subpath: str) -> tuple[str, Path]:
        return subpath, project(where / subpath, registry, *FRAMEWORKS[subpath])

    with ThreadPoolExecutor(max_workers=len(FRAMEWORKS)) as pool:  # npm mostly waits on the registry
        return dict(pool.map(one, FRAMEWORKS))


def test_each_adapter_installs_by_name_beside_its_framework(projects: dict[str, Path]) -> None:
    def one(subpath: str) -> tuple[str, list[str]]:
        where = projects[subpath]
        packed = json.loads((where / "node_modules" / "agent-approvals" / "package.json").read_text())
        assert packed["version"] == VERSION
        return subpath, checked(where, subpath)

    with ThreadPoolExecutor(max_workers=len(FRAMEWORKS)) as pool:
        found = dict(pool.map(one, FRAMEWORKS))
    assert found == {subpath: [] for subpath in FRAMEWORKS}, found


def compiled(subpath: str, where: Path, npmrc: Path) -> Path:
    """The suite's test of `subpath` compiled in its fresh project `where` (what more it imports installed there
    first): the compiled file, importing `agent-approvals` and the framework from `where`/node_modules."""
    files, more = SCRIPTED[subpath]
    if more:
        npm("install", "--save-dev", *[f"{name}@{SUITE[name]}" for name in more], cwd=where, userconfig=npmrc)
    (where / "test").mkdir(exist_ok=True)
    for name in files:
        shutil.copy(PROJECT / "test" / name, where / "test" / name)
    tsc = PROJECT / "node_modules" / "typescript" / "bin" / "tsc"
    done = subprocess.run([node(), str(tsc), "--noCheck",  # checked types are the test above's; this only emits
                           "--module", "node16", "--moduleResolution", "node16", "--target", "es2022",
                           "--outDir", "dist", "--rootDir", "test", *[f"test/{name}" for name in files]],
                          cwd=where, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"tsc in {where}:\n{done.stdout[-3000:]}{done.stderr[-2000:]}"
    return where / "dist" / files[0].replace(".ts", ".js")


async def approved_once(test: Path, env: dict[str, str]) -> str:
    """`node --test` of `test`'s scripted approval (APPROVED_ONCE) on Node 22, in its project: its TAP output."""
    process = await asyncio.create_subprocess_exec(
        node22(), "--test", "--test-reporter=tap", f"--test-name-pattern={APPROVED_ONCE}", str(test),
        cwd=test.parent.parent, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(process.communicate(), 240)
    finally:
        if process.returncode is None:  # timed out, or the test failed on another: never left running
            process.kill()
            await process.wait()
    said = out.decode()
    counts = dict(re.findall(r"^# (pass|fail|cancelled) (\d+)$", said, re.M))
    assert process.returncode == 0 and counts == {"pass": "1", "fail": "0", "cancelled": "0"}, said[-6000:]
    assert re.search(r"^\s*ok \d+ - " + APPROVED_ONCE.removeprefix("^"), said, re.M), said[-6000:]
    return said


async def test_each_adapter_installed_by_name_runs_a_scripted_approval_against_a_real_worker(
    projects: dict[str, Path], registry: Path, emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    worker, key = emailer
    tests = await asyncio.gather(*(asyncio.to_thread(compiled, subpath, where, registry)
                                   for subpath, where in projects.items()))
    signals = tmp_path / "signals"
    signals.mkdir()
    env = {**clean_env(), "AGENT_APPROVALS_URL": worker.url, "AGENT_APPROVALS_KEY": key, "TS_SIGNALS": str(signals)}
    done = asyncio.Event()
    shown: list[str] = []
    reviewer = asyncio.create_task(review(slack, done, shown, signals))
    try:
        ran = await asyncio.gather(*(approved_once(test, env) for test in tests), return_exceptions=True)
    finally:
        done.set()
        decided = await reviewer
    for failed in ran:  # each run to its end first: none left running
        if isinstance(failed, BaseException):
            raise failed
    assert decided == ["approved"] * len(FRAMEWORKS), decided  # one card each, bob's click approved it
    titles = ("ts: approve the AI SDK's email", "ts: approve the Mastra email", "ts: approve oa once",
              "ts: approve lg once")
    assert all(sum(title in text for text in shown) == 1 for title in titles), shown
    # each ran the package as installed from the registry (a folder of its own, no link to the work tree); the
    # adapter's own test asserted the tool ran once, with the approved arguments
    assert not any((test.parent.parent / "node_modules" / "agent-approvals").is_symlink() for test in tests)


def test_the_client_alone_runs_on_node_20(registry: Path, tmp_path: Path) -> None:
    where = project(tmp_path / "client", registry)
    assert not (where / "node_modules" / "ai").exists()  # the frameworks are optional peers: none came with it
    version = subprocess.run([node(), "--version"], capture_output=True, text=True, check=True).stdout
    code = ('import { ApprovalsClient } from "agent-approvals";'
            ' const c = new ApprovalsClient({ url: "http://127.0.0.1:9", key: "aak_x" });'
            ' console.log(typeof c.requestTool)')
    ran = subprocess.run([node(), "--input-type=module", "-e", code], cwd=where, capture_output=True, text=True,
                         timeout=120, check=False)
    assert ran.stdout.strip() == "function", f"Node {version}: {ran.stderr[-2000:]}"
    assert checked(where, ".") == []
