"""The TypeScript package (agents/typescript/, npm `agent-approvals`) from the tests: its request and answer types
generated from the bot's own OpenAPI document (`bot.api.openapi.document`, by the package's devDependency
`openapi-typescript`), and its compiled tests run by Node's own runner (`node --test`).

    python -m tests.support.typescript    writes agents/typescript/src/api.ts from the document (commit it)

The package's own folder holds only what it needs (jose, and its build and lint tools) and its tests of the client
and the receipts (test/), which run on Node 20. The frameworks, Node 22 (for the AI SDK 7 and Mastra) and the tests
that need them (the adapters' tests and the conformance suite) are the suite's own project (`PROJECT`), where the
package is a dependency (`file:`, a link to agents/typescript): its build (`npm run build` there) builds the package
with every adapter through that link, then the suite's tests; node runs them with `--preserve-symlinks`, so that the
linked package's adapters find their frameworks in the project's node_modules. Both are installed first: `INSTALL`,
in the README's test command.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bot.api.openapi import document
from tests.support.source import ROOT

PACKAGE = ROOT / "agents" / "typescript"
API_TS = PACKAGE / "src" / "api.ts"
PROJECT = ROOT / "tests" / "agents" / "typescript" / "project"  # the suite's own: Node 22 (package.json)
INSTALL = "npm install --prefix agents/typescript && npm install --prefix tests/agents/typescript/project"
FLAGS = ("--empty-objects-unknown", "--default-non-nullable", "false")


def node() -> str:
    found = shutil.which("node")
    if found is None:
        raise RuntimeError("node is not installed (apt-get install nodejs npm); .ci/run installs it")
    return found


# the suite's tests (PROJECT/test) of adapters whose framework needs Node 22
NODE22 = ("ai-sdk.test.ts", "mastra.test.ts", "conformance-ai-sdk.test.ts", "conformance-mastra.test.ts",
          "conformance-mastra-workflow.test.ts")


def node22() -> str:
    """Node 22, for the adapters' frameworks that need it: the suite's own project's `node` (its binary in
    tests/agents/typescript/project/node_modules/.bin, not the package's: building the package needs no Node 22),
    else the machine's when that is 22 or newer."""
    local = PROJECT / "node_modules" / ".bin" / "node"
    if local.is_file():
        return str(local)
    found = node()
    version = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=30, check=False).stdout
    if int(version.strip().lstrip("v").split(".")[0] or 0) >= 22:
        return found
    raise RuntimeError(f"Node 22 is not installed in {PROJECT.relative_to(ROOT)}: run `{INSTALL}` (the README's test"
                       " command does)")


def installed(tool: str) -> Path:
    """The entry point of an installed devDependency's CLI (`suite-tsc`: the suite's project's `tsc`); RuntimeError
    naming the install command else."""
    path = {"tsc": PACKAGE / "node_modules" / "typescript" / "bin" / "tsc",
            "suite-tsc": PROJECT / "node_modules" / "typescript" / "bin" / "tsc",
            "openapi-typescript": PACKAGE / "node_modules" / "openapi-typescript" / "bin" / "cli.js"}[tool]
    if not path.is_file():
        where = (PROJECT if tool.startswith("suite") else PACKAGE).relative_to(ROOT)
        raise RuntimeError(f"{tool.removeprefix('suite-')} is not installed in {where}: run `{INSTALL}` (the README's"
                           " test command does)")
    return path


# node, for the suite's tests and what imports the package through a link: the linked package's adapters find their
# frameworks beside the link (the project's node_modules), not beside the package's own folder
PRESERVE = "--preserve-symlinks"
CONFORMANCE = PROJECT / "test" / "conformance.ts"


def declared_tests(paths: list[Path]) -> int:
    """The tests `paths` declare: each `test(` at a line's start, and each conformance case for a
    `conformance(driver)`."""
    cases = len(re.findall(r"^\s+(?:\{ )?id: \"", CONFORMANCE.read_text(), re.M))
    return sum(len(re.findall(r"^test\(", p.read_text(), re.M)) + cases * len(re.findall(r"^conformance\(",
               p.read_text(), re.M)) for p in paths)


async def node_test(binary: str, tests: list[Path], env: dict[str, str]) -> str:
    """`node --test` of the compiled `tests` (their sources in the test/ folder of the package or of the suite's
    project, all of one) on `binary`: its TAP output, once all passed. The suite's run with `PRESERVE` (its own
    programs too: NODE_OPTIONS), as its package.json's `test` says."""
    where = tests[0].parent.parent
    if where == PROJECT:
        env = {**env, "NODE_OPTIONS": f"{env.get('NODE_OPTIONS', '')} {PRESERVE}".strip()}
    process = await asyncio.create_subprocess_exec(
        binary, "--test", "--test-reporter=tap", *(str(where / "dist" / "test" / f"{t.stem}.js") for t in tests),
        cwd=where, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(process.communicate(), 240)
    said = out.decode()
    assert process.returncode == 0, said[-6000:]
    counts = dict(re.findall(r"^# (pass|fail|skipped|todo|cancelled) (\d+)$", said, re.M))
    expected = {"pass": str(declared_tests(tests)), "fail": "0", "skipped": "0", "todo": "0", "cancelled": "0"}
    assert counts == expected, said
    return said


def api_ts() -> str:
    """The TypeScript types of the API, as openapi-typescript writes them from the bot's OpenAPI document now."""
    with tempfile.TemporaryDirectory(prefix="openapi-") as folder:
        spec, out = Path(folder) / "openapi.json", Path(folder) / "api.ts"
        spec.write_text(json.dumps(document(), indent=2))
        done = subprocess.run([node(), str(installed("openapi-typescript")), str(spec), "-o", str(out), *FLAGS],
                              capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"openapi-typescript failed: {done.stderr.strip()[-2000:]}")
        return out.read_text()


def build() -> None:
    """`npm run build` of the suite's project, as its package.json says, with no npm: the package (strict, every
    adapter: its build.mjs run through the project's link, so that it finds the frameworks there) to
    agents/typescript/dist/, then the suite's tests to PROJECT/dist/, each afresh (no test of a removed file left
    behind)."""
    installed("tsc")
    linked = PROJECT / "node_modules" / "agent-approvals"
    if not linked.is_symlink() or linked.resolve() != PACKAGE:
        raise RuntimeError(f"the suite's project does not link agents/typescript: run `{INSTALL}`")
    shutil.rmtree(PROJECT / "dist", ignore_errors=True)
    for command, cwd in (([node(), PRESERVE, f"{PRESERVE}-main", str(linked / "build.mjs")], PROJECT),
                         ([node(), str(installed("suite-tsc")), "-p", str(PROJECT)], PROJECT)):
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command[1:])} failed:\n{done.stdout[-4000:]}{done.stderr[-2000:]}")


EXAMPLES = ROOT / "examples" / "typescript"
EXAMPLES22 = ("ai-sdk", "mastra")  # the examples whose framework needs Node 22


def link_modules(into: Path, package: Path = PACKAGE) -> None:
    """`into`/node_modules as `npm install` of `agent-approvals` (`package`, built) and the frameworks would lay it
    out, offline: each a link (the frameworks to the suite's project's, so that all resolve one copy). Run what
    imports `package` (a link to agents/typescript) with node's `PRESERVE`."""
    modules = into / "node_modules"
    modules.mkdir()
    if not (PROJECT / "node_modules").is_dir():
        raise RuntimeError(f"the suite's project is not installed: run `{INSTALL}`")
    for installed_one in (PROJECT / "node_modules").iterdir():
        if installed_one.name != "agent-approvals":
            (modules / installed_one.name).symlink_to(installed_one)
    (modules / "agent-approvals").symlink_to(package)


def build_examples(into: Path, more: dict[str, str] | None = None) -> Path:
    """examples/typescript compiled (its own tsconfig.json, strict) in `into`, offline, laid out as `npm install` of
    its package.json would: `agent-approvals` (file:../../agents/typescript) the package built apart in `into` by
    its own build.mjs (never the package's own dist/, which the tests of the package build), finding each framework
    in `into`/node_modules, a link to the suite's project's; each of `more` (a file name: its TypeScript) beside
    them. `into`/dist, the programs."""
    package = into / "agent-approvals"
    shutil.copytree(PACKAGE / "src", package / "src")
    shutil.copytree(PACKAGE / "test", package / "test")
    for name in ("package.json", "tsconfig.json", "build.mjs"):
        shutil.copy(PACKAGE / name, package / name)
    (package / "node_modules").symlink_to(PACKAGE / "node_modules")
    link_modules(into, package)
    for source in (*EXAMPLES.glob("*.ts"), EXAMPLES / "tsconfig.json", EXAMPLES / "package.json"):
        shutil.copy(source, into / source.name)
    for name, code in (more or {}).items():
        (into / name).write_text(code)
    for command in ([node(), str(package / "build.mjs")], [node(), str(installed("tsc")), "-p", str(into)]):
        done = subprocess.run(command, cwd=into, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{command[1]} failed:\n{done.stdout[-4000:]}{done.stderr[-2000:]}")
    return into / "dist"


if __name__ == "__main__":
    API_TS.write_text(api_ts())
    sys.stdout.write(f"wrote {API_TS.relative_to(ROOT)}\n")
