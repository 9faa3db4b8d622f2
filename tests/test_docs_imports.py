"""Every import the docs show works: a module moved or a name renamed breaks no page silently again.

The Python imports of every code block of docs/ and the README (`from x import y`, `import x`; parenthesised ones
whole) run in a fresh Python (every extra is installed), each on its own, and none may say it is deprecated. The
TypeScript ones (`import { ... } from "agent-approvals..."`) are checked against the package: its package.json
`exports` has the subpath, and the module it points to (`dist/src/x.js`, built by tsc from `src/x.ts`: tsconfig's
`rootDir` "." and `outDir` "dist") exports each name, its `export *` and `export { } from` followed.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.source import ROOT

PAGES = (ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")))
PACKAGE = ROOT / "agents" / "typescript"
FENCE = re.compile(r"^\s*(```|~~~)")
PY_START = re.compile(r"^\s*(from\s+[\w.]+\s+import\s|import\s+[\w.]+(\s*,\s*[\w.]+)*\s*(\bas\s+\w+)?\s*$)")
TS_IMPORT = re.compile(r"import\s+(?:type\s+)?\{([^}]*)\}\s*from\s*[\"'](agent-approvals(?:/[\w-]+)?)[\"']", re.S)
TS_EXPORT_FROM = re.compile(r"export\s+(?:type\s+)?(\*|\{[^}]*\})\s*from\s*[\"'](\.[^\"']+)[\"']", re.S)
TS_EXPORT_DECL = re.compile(
    r"^export\s+(?:declare\s+)?(?:default\s+)?(?:async\s+)?(?:abstract\s+)?"
    r"(?:function\*?|class|const|let|var|interface|type|enum)\s+(\w+)", re.M)
TS_EXPORT_LIST = re.compile(r"^export\s+(?:type\s+)?\{([^}]*)\}\s*;", re.M)


def code_blocks(text: str) -> Iterator[tuple[str, str]]:
    """Each fenced block of a page: its language (maybe "") and its text."""
    lines, block, lang = text.splitlines(), None, ""
    for line in lines:
        if FENCE.match(line):
            if block is None:
                block, lang = [], line.strip().lstrip("`~").strip()
            else:
                yield lang, "\n".join(block)
                block = None
        elif block is not None:
            block.append(line)


def python_imports(block: str) -> Iterator[str]:
    """The Python import statements of a block (a TypeScript `import ... from "..."` is none)."""
    lines = block.splitlines()
    for i, line in enumerate(lines):
        if not PY_START.match(line) or re.search(r"from\s+[\"']", line):
            continue
        statement, j = line.strip(), i
        while statement.count("(") > statement.count(")") and j + 1 < len(lines):
            j += 1
            statement += "\n" + lines[j].strip()
        yield statement


def documented_python_imports() -> dict[str, list[str]]:
    """Each Python import the pages show: the statement, and where (page and block language)."""
    found: dict[str, list[str]] = {}
    for page in PAGES:
        for lang, block in code_blocks(page.read_text()):
            if lang in ("ts", "typescript", "js", "javascript", "bash", "sh", "console", "cedar", "json", "yaml"):
                continue
            for statement in python_imports(block):
                found.setdefault(statement, []).append(str(page.relative_to(ROOT)))
    return found


def documented_ts_imports() -> dict[tuple[str, str], list[str]]:
    """Each TypeScript name imported from the package in the pages: (subpath, name) and where."""
    found: dict[tuple[str, str], list[str]] = {}
    for page in PAGES:
        for _, block in code_blocks(page.read_text()):
            for names, spec in TS_IMPORT.findall(block):
                for name in filter(None, (n.strip() for n in names.split(","))):
                    name = name.removeprefix("type ").split(" as ")[0].strip()
                    found.setdefault((spec, name), []).append(str(page.relative_to(ROOT)))
    return found


# imports the pages show for another environment than ours: read, not run (their module holds the names)
ELSEWHERE = {
    # docs/agents/mcp.md: autogen-ext 0.7's McpWorkbench needs mcp 1.x; agent-approvals[mcp] brings mcp 2
    "from autogen_ext.tools.mcp import McpWorkbench, StdioServerParams",
}
RUN = """
import ast, importlib.util, json, sys, warnings
failed = {}
statements, elsewhere = json.loads(sys.stdin.read())
for statement in elsewhere:
    node = ast.parse(statement).body[0]
    origin = importlib.util.find_spec(node.module).origin
    held = {a.asname or a.name for n in ast.walk(ast.parse(open(origin).read())) if isinstance(n, ast.ImportFrom)
            for a in n.names} | {n.name for n in ast.walk(ast.parse(open(origin).read())) if hasattr(n, "name")}
    if missing := [a.name for a in node.names if a.name not in held]:
        failed[statement] = f"{node.module} has no {missing}"
for statement in statements:
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        try:
            exec(compile(statement, "<docs>", "exec"), {})
        except BaseException as error:
            failed[statement] = f"{type(error).__name__}: {error}"
            continue
    deprecated = [str(w.message) for w in said if issubclass(w.category, DeprecationWarning)
                  and "agent_approvals" in str(w.message)]
    if deprecated:
        failed[statement] = "deprecated: " + "; ".join(deprecated)
print(json.dumps(failed))
"""


def failed_imports(statements: list[str]) -> dict[str, str]:
    """The statements that do not run in a fresh Python, with why."""
    here = [s for s in statements if s not in ELSEWHERE]
    done = subprocess.run([sys.executable, "-c", RUN], input=json.dumps([here, sorted(ELSEWHERE & set(statements))]),
                          capture_output=True, text=True, timeout=300, check=True, cwd=ROOT)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.slow  # a fresh Python imports every framework
def test_every_python_import_in_the_docs_runs() -> None:
    documented = documented_python_imports()
    assert "from agent_approvals import ApprovalsClient" in documented  # the pages were read
    failed = failed_imports(list(documented))
    assert {statement: (why, documented[statement]) for statement, why in failed.items()} == {}


@pytest.mark.slow
def test_the_python_check_sees_a_broken_and_a_deprecated_import() -> None:
    failed = failed_imports(["from agent_approvals.receipts import ReceiptChecker, guard_mcp_server",
                             "from agent_approvals.receipts import no_such_name", "import json", *ELSEWHERE])
    assert set(failed) == {"from agent_approvals.receipts import ReceiptChecker, guard_mcp_server",
                           "from agent_approvals.receipts import no_such_name"}
    assert "agent_approvals.guards" in failed["from agent_approvals.receipts import ReceiptChecker, guard_mcp_server"]


def module_source(built: str) -> Path:
    """The TypeScript source of a built module (`./dist/src/x.js` or `.d.ts` from `src/x.ts`)."""
    relative = re.sub(r"\.(d\.ts|js)$", ".ts", built.removeprefix("./").removeprefix("dist/"))
    return PACKAGE / relative


def exported_names(source: Path, seen: frozenset[Path] = frozenset()) -> set[str]:
    """The names a TypeScript module exports: declared, listed, and re-exported from its siblings."""
    if source in seen:
        return set()
    text = re.sub(r"//[^\n]*|/\*.*?\*/", "", source.read_text(), flags=re.S)
    names = set(TS_EXPORT_DECL.findall(text))
    for listed in TS_EXPORT_LIST.findall(text):
        names.update(n.strip().removeprefix("type ").split(" as ")[-1].strip() for n in listed.split(",") if n.strip())
    for what, target in TS_EXPORT_FROM.findall(text):
        sibling = (source.parent / target).with_suffix(".ts")
        if what == "*":
            names |= exported_names(sibling, seen | {source})
        else:
            names.update(n.strip().removeprefix("type ").split(" as ")[-1].strip()
                         for n in what.strip("{}").split(",") if n.strip())
    return names


def ts_exports() -> dict[str, set[str]]:
    """Each subpath the package exports (`agent-approvals`, `agent-approvals/ai-sdk`) and the names it exports."""
    exports = json.loads((PACKAGE / "package.json").read_text())["exports"]
    return {("agent-approvals" + subpath.removeprefix(".")): exported_names(module_source(entry["import"]))
            | exported_names(module_source(entry["types"])) for subpath, entry in exports.items()}


def missing_ts(documented: dict[tuple[str, str], list[str]], exports: dict[str, set[str]]) -> dict[str, list[str]]:
    return {f"{name} from {spec}": pages for (spec, name), pages in documented.items()
            if name not in exports.get(spec, set())}


def test_every_typescript_import_in_the_docs_is_exported_by_the_package() -> None:
    documented, exports = documented_ts_imports(), ts_exports()
    assert ("agent-approvals", "ApprovalsClient") in documented and ("agent-approvals/mastra", "approvalsHooks") in \
        documented  # the pages were read
    assert {"ApprovalsClient", "ReceiptChecker", "fileChange", "FileStateStore"} <= exports["agent-approvals"]
    assert missing_ts(documented, exports) == {}


def test_the_typescript_check_sees_a_name_or_a_subpath_not_exported() -> None:
    exports = ts_exports()
    documented = documented_ts_imports() | {("agent-approvals", "guardMcpServer"): ["x.md"],
                                            ("agent-approvals/crewai", "run"): ["y.md"]}
    assert missing_ts(documented, exports) == {"guardMcpServer from agent-approvals": ["x.md"],
                                               "run from agent-approvals/crewai": ["y.md"]}
    assert list(python_imports('import { a } from "agent-approvals";\nfrom x import (\n  a,\n  b,\n)\n')) == [
        "from x import (\na,\nb,\n)"]
    assert ast.parse("from x import (\na,\nb,\n)")
