"""The TypeScript package (agents/typescript/, npm `agent-approvals`) from the tests: its request and answer types
generated from the bot's own OpenAPI document (`bot.api.openapi.document`, by the package's devDependency
`openapi-typescript`), and its compiled tests run by Node's own runner (`node --test`).

    python -m tests.support.typescript    writes agents/typescript/src/api.ts from the document (commit it)

The package must be installed first, and the suite's own project beside it (Node 22, for the adapters whose
frameworks need it): `INSTALL`, in the README's test command.
"""

from __future__ import annotations

import json
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


# the tests (test/) of adapters whose framework needs Node 22
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
    """The entry point of an installed devDependency's CLI; RuntimeError naming the install command else."""
    path = {"tsc": PACKAGE / "node_modules" / "typescript" / "bin" / "tsc",
            "openapi-typescript": PACKAGE / "node_modules" / "openapi-typescript" / "bin" / "cli.js"}[tool]
    if not path.is_file():
        raise RuntimeError(f"{tool} is not installed in agents/typescript: run `{INSTALL}` (the README's test command"
                           " does)")
    return path


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
    """`tsc -p agents/typescript` (strict): the package and its tests compiled afresh to agents/typescript/dist/ (no
    test of a removed file left behind)."""
    shutil.rmtree(PACKAGE / "dist", ignore_errors=True)
    done = subprocess.run([node(), str(installed("tsc")), "-p", str(PACKAGE)], capture_output=True, text=True,
                          timeout=300, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"tsc failed:\n{done.stdout[-4000:]}{done.stderr[-2000:]}")


EXAMPLES = ROOT / "examples" / "typescript"
EXAMPLES22 = ("ai-sdk", "mastra")  # the examples whose framework needs Node 22


def link_modules(into: Path, package: Path = PACKAGE) -> None:
    """`into`/node_modules as `npm install` of `agent-approvals` (`package`, built) and the frameworks would lay it
    out, offline: each a link (the frameworks to the package's own devDependencies, so both resolve one copy)."""
    modules = into / "node_modules"
    modules.mkdir()
    for installed_one in (PACKAGE / "node_modules").iterdir():
        (modules / installed_one.name).symlink_to(installed_one)
    (modules / "agent-approvals").symlink_to(package)


def build_examples(into: Path, more: dict[str, str] | None = None) -> Path:
    """examples/typescript compiled (its own tsconfig.json, strict) in `into`, offline, laid out as `npm install` of
    its package.json would: `agent-approvals` (file:../../agents/typescript) the package compiled apart in `into`
    (never the package's own dist/, which the tests of the package build), each framework a link to the package's
    own devDependency; each of `more` (a file name: its TypeScript) beside them. `into`/dist, the programs."""
    package = into / "agent-approvals"
    shutil.copytree(PACKAGE / "src", package / "src")
    for name in ("package.json", "tsconfig.json"):
        shutil.copy(PACKAGE / name, package / name)
    (package / "node_modules").symlink_to(PACKAGE / "node_modules")
    link_modules(into, package)
    for source in (*EXAMPLES.glob("*.ts"), EXAMPLES / "tsconfig.json", EXAMPLES / "package.json"):
        shutil.copy(source, into / source.name)
    for name, code in (more or {}).items():
        (into / name).write_text(code)
    for project in (package, into):
        done = subprocess.run([node(), str(installed("tsc")), "-p", str(project)], capture_output=True, text=True,
                              timeout=300, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"tsc failed on {project.name}:\n{done.stdout[-4000:]}{done.stderr[-2000:]}")
    return into / "dist"


if __name__ == "__main__":
    API_TS.write_text(api_ts())
    sys.stdout.write(f"wrote {API_TS.relative_to(ROOT)}\n")
