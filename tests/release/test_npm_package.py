"""The npm package as a user installs it: the release's tarball (tests/release/conftest.py) published to a local
registry the test starts (verdaccio, installed by .ci/run into .ci/cache/verdaccio; every other package through it
from npm's registry), then `agent-approvals` installed by name in a fresh project, once with each framework: each
subpath imports (on Node 22, which the AI SDK 7 and Mastra need), its types resolve under `moduleResolution`
`node16` and `bundler` (tsc, strict; `skipLibCheck`: checking Mastra's own declarations takes minutes; the package's
are tsc's output, strict, and arethetypeswrong checks them at pack time), and the client alone on the machine's
Node 20."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import bot
from tests.conftest import free_port
from tests.support.dev import http, wait_until
from tests.support.release import answers
from tests.support.source import ROOT
from tests.support.typescript import PROJECT, node, node22

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # a registry, and npm installs through it

VERDACCIO = ROOT / ".ci" / "cache" / "verdaccio" / "node_modules" / ".bin" / "verdaccio"
SUITE = json.loads((PROJECT / "package.json").read_text())["devDependencies"]  # the framework versions tested
FRAMEWORKS = {  # subpath: what a project installs beside the package for it (the suite's versions)
    "ai-sdk": ("ai", "zod"),
    "mastra": ("@mastra/core", "zod"),
    "openai-agents": ("@openai/agents", "zod"),
    "langgraph": ("@langchain/langgraph", "@langchain/core"),
}
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


def npm(*args: str, cwd: Path, userconfig: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("npm_config_", "NODE_OPTIONS"))}
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
        npm("publish", str(dist / f"agent-approvals-{bot.__version__}.tgz"), cwd=where, userconfig=npmrc)
        yield npmrc
    finally:
        server.terminate()
        server.wait(timeout=15)
        log.close()


def project(where: Path, npmrc: Path, *packages: str) -> Path:
    """A fresh project installing `agent-approvals` by name and `packages` (at the suite's versions)."""
    where.mkdir()
    (where / "package.json").write_text(json.dumps({"name": "fresh", "private": True, "type": "module"}))
    npm("install", "agent-approvals", *[f"{name}@{SUITE[name]}" for name in packages], cwd=where, userconfig=npmrc)
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


def test_each_adapter_installs_by_name_beside_its_framework(registry: Path, tmp_path: Path) -> None:
    def one(subpath: str) -> tuple[str, list[str]]:
        where = project(tmp_path / subpath, registry, *FRAMEWORKS[subpath])
        packed = json.loads((where / "node_modules" / "agent-approvals" / "package.json").read_text())
        assert packed["version"] == bot.__version__
        return subpath, checked(where, subpath)

    with ThreadPoolExecutor(max_workers=len(FRAMEWORKS)) as pool:  # npm mostly waits on the registry
        found = dict(pool.map(one, FRAMEWORKS))
    assert found == {subpath: [] for subpath in FRAMEWORKS}, found


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
