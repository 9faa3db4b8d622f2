"""The folders are the architecture: each layer imports only the layers below it, nothing imports in
a cycle, `agents` never imports `bot`, and no module grows past what one person reads at once.

Read from the source (`ast`), so a lazy import inside a function counts as much as one at the top, for the layers
and for the cycles (an import under `if TYPE_CHECKING:`, which never runs, makes no cycle but in bot/runs/, where
a type-only cycle is refused too: `TYPE_ONLY_CYCLES`).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from tests.support.source import ROOT, imports, modules, statements

MAX_LINES = 500  # a module of bot/ or of the agent side
LONG_ALLOWED = ("bot.devslack",)  # the local Slack, a stand-in for Slack itself: no module limit
MAX_TEST_LINES = 600  # a test module, a support module or a benchmark
MAX_TOP_LEVEL_MODULES = 10

AGENTS = ROOT / "agents" / "agent_approvals"
# The agent side's old names, kept as the interface names them (each is its new home under the old name).
ALIASES = {
    **{f"agent_approvals.{name}": f"agent_approvals.integrations.{name}" for name in (
        "autogen", "openai_agents", "langgraph", "pydantic_ai", "agent_framework", "claude_agent_sdk", "google_adk")},
    **{f"agent_approvals.{name}": f"agent_approvals.durable.{name}" for name in ("temporal", "dbos")},
}
# The agent side's core: its top-level modules (the client, the approver, modes, receipts, ...); the wings above it
# (integrations/, durable/, mcp_gateway/, claude_code/) import it, never each other, and it imports none of them.
AGENT_CORE = tuple(f"agent_approvals.{p.stem}" for p in sorted(AGENTS.glob("*.py"))
                   if p.stem != "__init__" and f"agent_approvals.{p.stem}" not in ALIASES)
INTEGRATIONS = tuple(f"agent_approvals.integrations.{p.stem}" for p in sorted((AGENTS / "integrations").iterdir())
                     if p.stem != "__init__" and (p.suffix == ".py" or (p / "__init__.py").exists()))
DURABLE_CORE = (*AGENT_CORE, "agent_approvals.durable.core", "agent_approvals.durable.engines")
AGENT_LAYERS: dict[str, tuple[str, ...]] = {
    "agent_approvals": AGENT_CORE,  # the core, and the package's own names (imported from the core)
    "agent_approvals.integrations": AGENT_CORE,  # the package: a docstring
    **{name: (*AGENT_CORE, name) for name in INTEGRATIONS},  # one framework each, never another's
    "agent_approvals.durable": DURABLE_CORE,  # the wing's core, the engines' registry and the relay
    "agent_approvals.durable.temporal": (*DURABLE_CORE, "agent_approvals.durable.temporal"),
    "agent_approvals.durable.dbos": DURABLE_CORE,  # an engine: never the relay (which finds it by name), no other
    "agent_approvals.mcp_gateway": (*AGENT_CORE, "agent_approvals.mcp_gateway"),
    "agent_approvals.claude_code": (*AGENT_CORE, "agent_approvals.claude_code"),
    **{old: (new,) for old, new in ALIASES.items()},
}

SLACK_IO = ("bot.slack",)  # the Slack surface: blocks, client, directory, what the bot sends Slack (above the core)
BELOW_CORE = ("bot.core", "agent_approvals")
# below a surface: the approval core and what it stands on (issue 88: a surface is above the core)
SURFACE_BASE = (*BELOW_CORE, "bot.store", "bot.policy", "bot.redaction", "bot.report", "bot.people", "bot.approvals")
# Longest prefix first wins. What each layer may import (besides the standard library and third parties).
ALLOWED: dict[str, tuple[str, ...]] = {
    **AGENT_LAYERS,
    "bot.core": BELOW_CORE,
    "bot.store": (*BELOW_CORE, "bot.store"),
    "bot.policy": (*BELOW_CORE, "bot.store", "bot.policy"),  # what the policies decide (Cedar), for every way in
    "bot.audit": (*BELOW_CORE, "bot.store", "bot.audit"),
    "bot.report": (*BELOW_CORE, "bot.store", "bot.audit", "bot.report"),
    "bot.redaction": (*BELOW_CORE, "bot.store", "bot.redaction"),  # hidden values: the chain's end stores redacted
    "bot.people": (*BELOW_CORE, "bot.store", "bot.people"),  # who is who across surfaces (issue 88), under the core
    # the core: no surface (tests/test_boundaries.py reads every import, lazy ones too)
    "bot.approvals": (*BELOW_CORE, "bot.store", "bot.policy", "bot.redaction", "bot.report", "bot.people",
                      "bot.approvals"),
    "bot.slack": (*SURFACE_BASE, *SLACK_IO),  # the Slack surface, above the core
    "bot.sessions": (*BELOW_CORE, "bot.store", *SLACK_IO, "bot.approvals", "bot.sessions"),  # told by the events
    "bot.runs": (*BELOW_CORE, "bot.store", "bot.policy", "bot.report", *SLACK_IO, "bot.approvals", "bot.sessions",
                 "bot.runs"),
    "bot.api": (*BELOW_CORE, "bot.store", "bot.policy", "bot.report", *SLACK_IO, "bot.approvals", "bot.api"),
    "bot.signin": (*BELOW_CORE, "bot.store", "bot.approvals", "bot.signin"),  # Sign in with Slack on the pages
    # passkeys: enrolment, step-up votes (through the decide step), the pages
    "bot.stepup": (*BELOW_CORE, "bot.store", "bot.policy", "bot.redaction", "bot.report", *SLACK_IO, "bot.approvals",
                   "bot.signin", "bot.stepup"),
    # Microsoft Teams (issue 81): a second place to decide, told by the events, deciding through the core's door
    "bot.msteams": (*SURFACE_BASE, "bot.msteams"),  # (its Slack users by email: bot.people's `UserDirectory`)
    # e-mail (issue 88): a surface, a row of its own: the core's packages below it and the pages' sign-in, never
    # another surface's (bot.slack, bot.slackapp, bot.msteams); the core's events it listens to (bot.approvals)
    "bot.email": (*BELOW_CORE, "bot.store", "bot.people", "bot.approvals", "bot.signin", "bot.links", "bot.email"),
    # signed decide links and their page (issue 90: shared by e-mail and push), below every surface, none itself;
    # a link's decision goes through the core's one door (bot.approvals)
    "bot.links": (*BELOW_CORE, "bot.store", "bot.approvals", "bot.links"),
    # Web Push (issue 90): a surface, as e-mail: the core's packages, the pages' sign-in, the shared links
    "bot.push": (*BELOW_CORE, "bot.store", "bot.people", "bot.approvals", "bot.signin", "bot.links", "bot.push"),
    # change tickets (issue 91): told by the core's events, never a surface
    "bot.tickets": (*BELOW_CORE, "bot.store", "bot.approvals", "bot.tickets"),
    "bot.services": (*BELOW_CORE, "bot.store", "bot.audit", *SLACK_IO, "bot.people", "bot.approvals", "bot.runs",
                     "bot.api", "bot.sessions", "bot.stepup", "bot.msteams", "bot.email", "bot.push",
                     "bot.tickets"),  # parts
    "bot.tenancy": (*BELOW_CORE, "bot.store", *SLACK_IO, "bot.services"),  # each workspace's parts (issue 65)
    "bot.slackapp": (*BELOW_CORE, "bot.store", "bot.policy", "bot.report", *SLACK_IO, "bot.approvals", "bot.runs",
                     "bot.api", "bot.stepup", "bot.services", "bot.tenancy", "bot.slackapp"),
    "bot.server": (*BELOW_CORE, "bot.store", "bot.policy", "bot.report", *SLACK_IO, "bot.approvals", "bot.runs",
                   "bot.api", "bot.stepup", "bot.signin", "bot.services", "bot.tenancy", "bot.slackapp", "bot.probes",
                   "bot.msteams", "bot.email", "bot.push"),
    # the composition root, at the top: the one module that builds and wires the parts (tests/test_root.py)
    "bot.root": (*BELOW_CORE, "bot.store", "bot.policy", "bot.audit", "bot.report", *SLACK_IO, "bot.redaction",
                 "bot.approvals", "bot.sessions", "bot.runs", "bot.api", "bot.stepup", "bot.services", "bot.tenancy",
                 "bot.slackapp", "bot.server", "bot.msteams", "bot.people", "bot.email", "bot.push", "bot.tickets"),
    "bot.probes": (*BELOW_CORE, "bot.store", "bot.services"),  # /livez, /readyz: what they read of a worker
    "bot.devslack": ("bot.devslack",),
    # the local Teams stand-in (a Bot Connector and its sign-in), as devslack (its pages' guard: bot/devslack/pages.py)
    "bot.devmsteams": ("bot.devmsteams", "bot.devslack"),
    "bot.devkit": ("bot.devkit",),  # what the stand-ins below share (a port, a served thread, a wait): nothing of ours
    "bot.devmail": ("bot.devkit", "bot.devmail"),  # the local mail catcher (aiosmtpd), as devslack: nothing of ours
    "bot.devpush": ("bot.devkit", "bot.devpush"),  # the local push service (receives, checks VAPID, decrypts)
    "bot.devoncall": ("bot.devkit", "bot.devoncall"),  # the local on-call provider (issue 90), as devmail
    # operators' commands (`freeze drill` asks the decision chain's freeze link: bot.approvals)
    "bot.cli": (*BELOW_CORE, "bot.store", "bot.policy", "bot.report", *SLACK_IO, "bot.approvals", "bot.api",
                "bot.cli"),
    # the entry points, each its own row: `python -m bot dev` (the product through the root, the stand-in, Redis)
    "bot.dev_data": (*BELOW_CORE, "bot.store"),  # where dev keeps its data, and the redis-server it starts
    "bot.dev_slackbot": (*BELOW_CORE, "bot.store", "bot.services", "bot.devslack"),  # dev's Slackbot keys
    "bot.dev": (*BELOW_CORE, "bot.store", "bot.runs", "bot.services", "bot.root", "bot.devslack", "bot.dev_data",
                "bot.dev_slackbot", "bot.devmsteams", "bot.devmail", "bot.devpush", "bot.devoncall",
                "bot.dev"),  # a package: entry, stack, stand-ins
    "bot.__main__": (*BELOW_CORE, "bot.audit", "bot.report", "bot.runs", "bot.cli", "bot.slackapp", "bot.server",
                     "bot.root", "bot.devslack", "bot.dev", "bot.dev_data", "bot.devmsteams"),
    "bot": ("bot.core",),  # the package itself (its docstring and version) alone: no row catches the top's modules
}


def layer_of(name: str) -> str:
    """The row of module `name`: the longest prefix with a row; `bot` only for the package itself (a module at the
    top without a row of its own has none: ValueError)."""
    if name == "bot":
        return "bot"
    return max((prefix for prefix in ALLOWED if prefix != "bot" and (name == prefix or name.startswith(prefix + "."))),
               key=len)


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def allowed(name: str, target: str) -> bool:
    """Whether module `name` may import `target` (the agent package itself holds only its core's names)."""
    return target == "agent_approvals" or within(target, ALLOWED[layer_of(name)])


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
def test_each_layer_imports_only_the_layers_below_it() -> None:
    wrong = [
        f"{name} imports {target}"
        for name, path in modules()
        for target in sorted(imports(name, path))
        if not allowed(name, target)
    ]
    assert wrong == []


def test_the_agent_side_has_its_floor_plan() -> None:
    """The agent package's folders are its wings, and what the table names is there: the core at the top, one
    module or package per framework in integrations/, the durable engines in durable/."""
    found = {name for name, _ in modules() if name.startswith("agent_approvals")}
    assert {"agent_approvals.client", "agent_approvals.approver", "agent_approvals.receipts"} <= set(AGENT_CORE)
    assert {"agent_approvals.integrations.langgraph", "agent_approvals.integrations.autogen"} <= set(INTEGRATIONS)
    assert set(ALIASES.values()) <= found and set(ALIASES) <= found
    folders = {p.name for p in AGENTS.iterdir() if (p / "__init__.py").exists()}
    assert folders == {"integrations", "durable", "mcp_gateway", "claude_code", "autogen", "temporal"}, folders


def test_the_agent_side_never_imports_slack_redis_or_bot() -> None:
    for name, path in modules():
        if not name.startswith("agent_approvals"):
            continue
        tree = ast.parse(path.read_text())
        for node in statements(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for imported in names:
                assert not imported.startswith(("bot", "slack_", "slack", "redis")), f"{name} imports {imported}"


TYPE_ONLY_CYCLES = ("bot.runs",)  # packages whose `if TYPE_CHECKING:` imports make a cycle too (a type-only cycle)


def edges(name: str, path: Path) -> set[str]:
    """What module `name` imports when it runs (at its top, or lazily, inside a function); in `TYPE_ONLY_CYCLES`,
    what it imports for a type checker too."""
    return imports(name, path, run_time=not within(name, TYPE_ONLY_CYCLES))


def import_graph() -> dict[str, set[str]]:
    return {name: edges(name, path) for name, path in modules()}


def cycle(graph: dict[str, set[str]]) -> list[str]:
    """An import cycle in `graph` (`[a, b, a]`), or `[]`."""
    done: set[str] = set()

    def visit(node: str, stack: list[str]) -> list[str]:
        if node in stack:
            return [*stack[stack.index(node):], node]
        if node in done or node not in graph:
            return []
        for target in sorted(graph[node] - {node}):  # a package naming its own modules is no cycle
            if found := visit(target, [*stack, node]):
                return found
        done.add(node)
        return []

    for name in sorted(graph):
        if found := visit(name, []):
            return found
    return []


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
def test_no_import_cycle() -> None:
    assert " -> ".join(cycle(import_graph())) == ""


def too_long(files: dict[str, Path], limit: int) -> dict[str, int]:
    """The files of `files` (name: path) over `limit` lines."""
    return {name: n for name, path in files.items() if (n := len(path.read_text().splitlines())) > limit}


def test_no_module_is_too_long() -> None:
    assert too_long({name: path for name, path in modules() if not within(name, LONG_ALLOWED)}, MAX_LINES) == {}


def test_the_length_check_can_fail(tmp_path: Path) -> None:
    long = tmp_path / "long.py"
    long.write_text("x = 1\n" * (MAX_LINES + 1))
    assert too_long({"bot.core.long": long}, MAX_LINES) == {"bot.core.long": MAX_LINES + 1}
    assert within("bot.devslack.server", LONG_ALLOWED) and not within("bot.devmsteams.page", LONG_ALLOWED)
    long.write_text("x = 1\n" * MAX_TEST_LINES)
    assert too_long({"tests/benchmarks/x.py": long}, MAX_TEST_LINES) == {}
    assert ROOT / "tests" / "benchmarks" / "common.py" in suite_and_benchmark_files()


def test_each_module_at_the_top_of_bot_has_its_own_row() -> None:
    """No catch-all row for the top: each of bot/*.py says what it may import, and a new one is refused until it
    does (`layer_of` finds no row for it)."""
    top = {f"bot.{p.stem}" for p in (ROOT / "bot").glob("*.py") if p.stem != "__init__"}
    assert top - set(ALLOWED) == set()
    try:
        layer_of("bot.newcomer")
    except ValueError:
        pass
    else:
        raise AssertionError("a module at the top without a row of its own was given one")


def test_few_modules_at_the_top_of_bot() -> None:
    top = sorted(p.name for p in (ROOT / "bot").glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top
    assert all((p / "__init__.py").exists() and ast.get_docstring(ast.parse((p / "__init__.py").read_text()))
               for p in (ROOT / "bot").iterdir() if p.is_dir() and p.name not in {"__pycache__"}
               and any(p.glob("*.py")))


TESTS = ROOT / "tests"


def suite_files() -> list[Path]:
    """The test suite's own files: test modules, conftest.py and tests/support (the benchmarks are programs)."""
    return [p for p in sorted(TESTS.rglob("*.py")) if "benchmarks" not in p.parts and "__pycache__" not in p.parts]


def imported_test_modules(source: str) -> set[str]:
    """The test modules (`tests.<package>.test_*`) that a file imports, at the top or inside a function."""
    found: set[str] = set()
    for node in statements(ast.parse(source)):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        found.update(n for n in names if n.startswith("tests.") and n.split(".")[-1].startswith("test_"))
    return found


def suite_and_benchmark_files() -> list[Path]:
    """The suite's files and the benchmarks'."""
    return [p for p in sorted(TESTS.rglob("*.py")) if "__pycache__" not in p.parts]


@pytest.mark.slow  # more than 1 s of CPU on its own (tests/support/slow.py)
def test_tests_mirror_the_tree_and_share_only_tests_support() -> None:
    """No test module imports another (shared helpers live in tests/support, fixtures in a conftest.py), no test or
    benchmark file passes MAX_TEST_LINES, and each test package says in its docstring what it tests."""
    files = suite_files()
    assert {str(p.relative_to(ROOT)): found for p in files if (found := imported_test_modules(p.read_text()))} == {}
    assert too_long({str(p.relative_to(ROOT)): p for p in suite_and_benchmark_files()}, MAX_TEST_LINES) == {}
    folders = [p for p in TESTS.iterdir() if p.is_dir() and p.name != "__pycache__" and any(p.glob("*.py"))]
    assert all(ast.get_docstring(ast.parse((p / "__init__.py").read_text())) for p in folders), folders


def shadowing(folder: Path) -> list[str]:
    """The packages and modules directly in `folder` named as a standard-library module: a script run from there
    (`python tests/soak.py` puts tests/ first on `sys.path`) imports ours instead (tests/email hid `email`, which
    aiohttp imports)."""
    return sorted(p.stem for p in folder.iterdir()
                  if (p.suffix == ".py" or (p / "__init__.py").is_file()) and p.stem in sys.stdlib_module_names)


def test_no_folder_on_a_scripts_path_shadows_the_standard_library(tmp_path: Path) -> None:
    scripts = {ROOT, TESTS, TESTS / "benchmarks", ROOT / "scripts"}  # bot/ runs as a package (-m), not a script
    assert {str(f.relative_to(ROOT)): found for f in scripts if f.is_dir() and (found := shadowing(f))} == {}
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "__init__.py").write_text("")
    (tmp_path / "emails.py").write_text("")
    assert shadowing(tmp_path) == ["email"]  # the check can fail


REDIS_TYPE_ONLY = {"bot.services", "bot.root", "bot.runs.response_cache"}  # they hand a client they made to the store


def redis_spoken(source: str) -> set[str]:
    """What of `redis` a module imports (a client type is not speaking Redis: its exceptions are)."""
    found: set[str] = set()
    for node in statements(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name == "redis" or a.name.startswith("redis."))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "redis":
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


@pytest.mark.slow  # more than 1 s of CPU on its own (tests/support/slow.py)
def test_only_the_store_speaks_redis() -> None:
    """Outside bot/store no module imports Redis's exceptions or commands (they catch the store's one
    `StoreUnavailable`); the composition root and the model cache only name the client type they hand on."""
    wrong = {
        name: sorted(spoken)
        for name, path in modules()
        if name.startswith("bot") and not within(name, ("bot.store",))
        and (spoken := redis_spoken(path.read_text()) - ({"redis.asyncio.Redis"} if name in REDIS_TYPE_ONLY else set()))
    }
    assert wrong == {}


# A second door is a way in that decides without the decision chain (bot/approvals/chain.py): each thing that decides
# or stores a decision (an attribute path's last parts, as written), and the modules that may reach it. (A call a
# program's allow-list let through is recorded by the chain's other end, bot/api/allowed.py, after the policies.)
DOORS: dict[str, tuple[str, ...]] = {
    "chain.walk": ("bot.approvals.service",),  # `open_request`: the one way in to the chain, for every way in
    "judge": ("bot.approvals.deciders", "bot.policy"),  # the policies' one evaluation: the policies' link alone
    "evaluate": ("bot.policy", "bot.cli"),  # Cedar: the engine, and replay / `policy test` (they decide nothing)
    "approvals.open": ("bot.approvals.deciders", "bot.store"),  # the store's open step: the chain's end
    "approvals.create": ("bot.store",),
}


def doors_reached(source: str) -> set[str]:
    """The `DOORS` a module's source reaches: called, or handed on (`partial(store.approvals.open, ...)`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute):
            continue
        path = [node.attr]
        value = node.value
        while isinstance(value, ast.Attribute):
            path.insert(0, value.attr)
            value = value.value
        if isinstance(value, ast.Name):
            path.insert(0, value.id)
        found.update(door for door in DOORS if path[-len(door.split(".")):] == door.split("."))
    return found


@pytest.mark.slow  # more than 1 s of CPU on its own (tests/support/slow.py)
def test_every_way_in_decides_through_the_one_chain() -> None:
    """Runs, the API, `audit/allowed`, the MCP gateway and Claude Code (through the API), workflows: none asks the
    policies, opens an approval or records a call as allowed beside the decision chain (a second door)."""
    wrong = {
        name: sorted(outside)
        for name, path in modules()
        if name.startswith("bot")
        and (outside := {door for door in doors_reached(path.read_text()) if not within(name, DOORS[door])})
    }
    assert wrong == {}


def test_the_check_can_fail(tmp_path: Path) -> None:
    """The rules above see a wrong import when there is one (so a green run means something)."""
    assert not within("bot.runs.manager", ALLOWED[layer_of("bot.approvals.service")])
    assert not within("bot.slackapp.listeners.actions", ALLOWED[layer_of("bot.slack.blocks.home")])
    assert layer_of("bot.slack.blocks.text") == "bot.slack"
    assert not within("bot.slack.directory", ALLOWED["bot.approvals"])  # the Slack surface is above the core
    assert not within("bot.slack.directory", ALLOWED["bot.msteams"])  # Teams: no surface's part, Slack's neither
    assert within("bot.approvals.events", ALLOWED["bot.slack"])
    assert not allowed("bot.approvals.chain", "bot.slack.blocks") and not allowed("bot.approvals.x", "bot.slack")
    assert layer_of("bot.slackapp.listeners.home") == "bot.slackapp"
    service = ROOT / "bot" / "approvals" / "service.py"
    assert "bot.store" in imports("bot.approvals.service", service)
    run_as_main = tmp_path / "x.py"  # an import under `if __name__` counts
    run_as_main.write_text('import os\nif __name__ == "__main__":\n    from bot.core import settings_table\n')
    assert imports("bot.core.x", run_as_main, run_time=True) == {"bot.core", "bot.core.settings_table"}
    typing_only = tmp_path / "t.py"  # only a type checker reads an import under `if TYPE_CHECKING:`
    typing_only.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bot.core import x\n")
    assert imports("bot.core.t", typing_only, run_time=True) == set()
    assert imports("bot.core.t", typing_only) == {"bot.core"}
    manager, approver = tmp_path / "manager.py", tmp_path / "run_approver.py"  # the runs' type-only cycle before #88
    manager.write_text("from bot.runs.run_approver import RunApprover\n")
    approver.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bot.runs.manager import X\n")
    pair = {"bot.runs.manager": manager, "bot.runs.run_approver": approver}
    assert cycle({name: edges(name, path) for name, path in pair.items()}) == [
        "bot.runs.manager", "bot.runs.run_approver", "bot.runs.manager"]
    manager.write_text("from bot.core.run_approver import RunApprover\n")
    approver.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bot.core.manager import X\n")
    elsewhere = {"bot.core.manager": manager, "bot.core.run_approver": approver}  # elsewhere only a run-time cycle
    assert cycle({name: edges(name, path) for name, path in elsewhere.items()}) == []


@pytest.mark.slow  # more than 1 s of CPU on its own: it parses agents/ again (tests/support/slow.py)
def test_the_agent_side_check_can_fail(tmp_path: Path) -> None:
    """A lazy import back up (from the core into a wing, from an engine into the relay), an integration importing
    another, and a circle made of lazy imports are each seen."""
    lazy = tmp_path / "lazy.py"
    lazy.write_text("def deliver():\n    from agent_approvals.durable.relay import Relay\n    return Relay\n")
    assert imports("agent_approvals.client", lazy, run_time=True) == {"agent_approvals.durable.relay"}
    assert not allowed("agent_approvals.client", "agent_approvals.durable.relay")
    assert not allowed("agent_approvals.durable.dbos", "agent_approvals.durable.relay")
    assert not allowed("agent_approvals.durable.temporal.delivery", "agent_approvals.durable.relay")
    assert not allowed("agent_approvals.durable.relay", "agent_approvals.durable.temporal.delivery")
    assert not allowed("agent_approvals.integrations.langgraph", "agent_approvals.integrations.pydantic_ai")
    assert not allowed("agent_approvals.integrations.autogen.run", "agent_approvals.integrations.langgraph")
    assert not allowed("agent_approvals.mcp_gateway.gateway", "agent_approvals.claude_code.hook")
    assert allowed("agent_approvals.integrations.autogen.run", "agent_approvals.integrations.autogen.tools")
    assert allowed("agent_approvals.durable.relay", "agent_approvals.durable.engines")
    graph = import_graph()  # the relay's engine importing it back lazily, as before the registry: a circle
    graph["agent_approvals.durable.engines"] = graph["agent_approvals.durable.engines"] | imports(
        "agent_approvals.durable.engines", lazy, run_time=True)
    assert cycle(graph) == ["agent_approvals.durable.engines", "agent_approvals.durable.relay",
                            "agent_approvals.durable.engines"]
    assert imported_test_modules("from tests.api.test_api import Client") == {"tests.api.test_api"}
    assert imported_test_modules("def f():\n    from tests.api import test_api") == {"tests.api.test_api"}
    assert imported_test_modules("from tests.support.api import Client\nimport tests.conftest") == set()
    assert redis_spoken("from redis.exceptions import RedisError") == {"redis.exceptions.RedisError"}
    # a second door: `audit/allowed` as it once asked the policies beside the chain, and an approval opened by hand
    second_door = ("async def policies_first(self, request):\n"
                   "    judged = await self.approvals.policies.judge(request)\n"
                   "    opened = partial(self.store.approvals.open, Opening(approval))\n")
    assert doors_reached(second_door) == {"judge", "approvals.open"}
    assert not within("bot.api.service", DOORS["judge"]) and not within("bot.api.service", DOORS["approvals.open"])
    assert doors_reached("import ast\nast.walk(tree)\nos.walk('.')\n") == set()


def test_a_digit_is_an_ascii_digit() -> None:
    """`str.isdigit()` is true for '²' (which `int` refuses) and for '١' or '１' (which it reads): every such test in
    the source goes with `isascii()`, so no parser of ours turns a stray digit into a 500 or a number nobody wrote."""
    bare = [f"{path.relative_to(ROOT)}:{n}" for _, path in modules()
            for n, line in enumerate(path.read_text().splitlines(), 1)
            if ".isdigit()" in line and ".isascii()" not in line]
    assert bare == []


# who is who is People's (issue 88): the core and the ways in that read typed ids never ask a person id's shape which
# surface it is of (`is_teams_person`, `SLACK_ID.fullmatch`): they use People, or the grammar (bot/core/people.py)
NO_SURFACE_QUESTION = ("bot.approvals", "bot.people", "bot.core.setting_kinds", "bot.slackapp.listeners.config_command")
SURFACE_QUESTIONS = frozenset({"is_teams_person", "SLACK_ID.fullmatch", "SLACK_ID.match", "SLACK_ID.search"})


def surface_questions(source: str) -> list[str]:
    """The calls in `source` that ask which surface an id is of by its shape, as written."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name):
            name = func.id
        elif isinstance(func, ast.Attribute):
            name = f"{func.value.id}.{func.attr}" if isinstance(func.value, ast.Name) else func.attr
        else:
            continue
        if name in SURFACE_QUESTIONS or name.rsplit(".", 1)[-1] == "is_teams_person":
            found.append((node.lineno, f"{node.lineno}: {name}"))
    return [said for _, said in sorted(found)]


def test_no_surface_question_outside_its_surface() -> None:
    wrong = {name: found for name, path in modules()
             if any(name == p or name.startswith(p + ".") for p in NO_SURFACE_QUESTION)
             and (found := surface_questions(path.read_text()))}
    assert wrong == {}
    # the check can fail: each way the core asked before (bot/approvals/service.py, homes.py, decider_policies.py)
    before = ("if is_teams_person(user):\n    pass\n"
              "found = directory.person(user) if SLACK_ID.fullmatch(user) else None\n"
              "ok = teams.is_teams_person(p)\n")
    assert surface_questions(before) == ["1: is_teams_person", "3: SLACK_ID.fullmatch", "4: teams.is_teams_person"]
    assert surface_questions("x = surface_of(user) == 'slack'\nSLACK_ID.pattern\n") == []
