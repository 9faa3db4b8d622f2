"""One composition root: the parts are wired in bot/root.py alone, and the surfaces use the approval core through its
public names.

Wiring, as these tests read it (`wiring`, from the source with `ast`), is telling a part what to call after it is
built; outside bot/root.py no module
  - sets a hook of another object: an assignment to `<x>.<hook>` where `<x>` is not `self` and `<hook>` is named
    `on_*` or `after_*`, or is one of the parts' hooks named otherwise (`HOOKS`: `people`, `vet`, `refused`);
  - adds to another object's hook list: `<x>.on_*.append(...)` / `.extend(...)` / `.insert(...)` (`self` too),
    except aiohttp's own signals of a `web.Application` (`WEB_SIGNALS`: on_startup, on_cleanup, on_shutdown,
    on_response_prepare), which are the web glue's, not a part's;
  - registers a handler: a call of `<x>.set_*_handler(...)`.
A part declaring its own hook (`self.on_built = []`, `self.after_draw = None`) or calling it (`self.on_change(c)`,
`approvals.on_decided(a)`) wires nothing. Nor does a module but the root build a part as a default
(`workspaces or create_workspaces(services)`): a part given is given by the root. The approval core builds no
redaction of its own (`Hiding(`): the root gives it its `Hiding`.

A surface (`SURFACES`: Slack's parts and the Slack app, the API, step-up, sessions, runs, sign-in, the server, the
probes, tenancy, the CLI) imports of the approval core only the names `bot/approvals/__init__.py` exports
(`__all__`), and the two pure modules every surface words and judges the same way (`PUBLIC_MODULES`: who may do
what, what a refusal says).
"""

from __future__ import annotations

import ast
import re

import pytest

import bot.approvals
from tests.support.source import modules, statements

pytestmark = pytest.mark.slow  # its first check parses all of bot/: more than 1 s of CPU (tests/support/slow.py)

ROOT_MODULE = "bot.root"
HOOKS = frozenset({"people", "vet", "refused"})  # the parts' hooks not named on_* / after_*
WEB_SIGNALS = frozenset({"on_startup", "on_cleanup", "on_shutdown", "on_response_prepare"})  # aiohttp's
HOOK_NAME = re.compile(r"(on|after)_\w+")
HANDLER_SETTER = re.compile(r"set_\w+_handler")

SURFACES = ("bot.slack", "bot.slackapp", "bot.api", "bot.stepup", "bot.sessions", "bot.runs", "bot.signin",
            "bot.server", "bot.probes", "bot.tenancy", "bot.cli", "bot.msteams")
CORE = "bot.approvals"
PUBLIC_MODULES = ("bot.approvals.rights", "bot.approvals.refusals", "bot.approvals.attesting")


@pytest.fixture(scope="module")
def trees() -> dict[str, ast.Module]:
    """Each module of bot/, parsed once for this module's checks (a second of CPU each time)."""
    return {name: ast.parse(path.read_text()) for name, path in modules() if name.startswith("bot")}


def tree_of(source: str | ast.Module) -> ast.Module:
    return ast.parse(source) if isinstance(source, str) else source


def dotted(node: ast.expr) -> str:
    """`a.b.c` as written ('' where it is not names and attributes)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and (base := dotted(node.value)):
        return f"{base}.{node.attr}"
    return ""


def is_hook(attribute: str) -> bool:
    return bool(HOOK_NAME.fullmatch(attribute)) or attribute in HOOKS


def wiring(source: str | ast.Module) -> list[str]:
    """Where `source` wires a part (the module docstring's rules), as written."""
    found: list[tuple[int, int, str]] = []
    for node in ast.walk(tree_of(source)):
        where = (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
        for target in targets:
            if (isinstance(target, ast.Attribute) and is_hook(target.attr)
                    and not (isinstance(target.value, ast.Name) and target.value.id == "self")):
                found.append((*where, f"{dotted(target) or target.attr} = "))
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        func = node.func
        if (func.attr in ("append", "extend", "insert") and isinstance(func.value, ast.Attribute)
                and HOOK_NAME.fullmatch(func.value.attr) and func.value.attr not in WEB_SIGNALS):
            found.append((*where, f"{dotted(func) or func.attr}("))
        elif HANDLER_SETTER.fullmatch(func.attr):
            found.append((*where, f"{dotted(func) or func.attr}("))
    return [said for *_, said in sorted(found)]


def test_parts_are_wired_only_in_the_root(trees: dict[str, ast.Module]) -> None:
    wrong = {name: found for name, tree in trees.items() if name != ROOT_MODULE and (found := wiring(tree))}
    assert wrong == {}


def test_the_root_wires_and_the_wiring_check_can_fail() -> None:
    """The rules see each way of wiring there was before the root held it all (server.py's uninstall hook, the Slack
    app's tenant hook, a step-up page's people, services.py's hooks), and pass what only looks like it."""
    root = next(path for name, path in modules() if name == ROOT_MODULE)
    assert {"workspaces.on_uninstalled.append(", "cards.after_draw = ", "waiter.set_control_handler(",
            "services.confirmations.people = "} <= set(wiring(root.read_text()))
    before = ("workspaces.on_uninstalled.append(partial(withdraw_on_uninstall, tenancy))\n"
              "tenancy.on_built.append(self._built)\n"
              "services.confirmations.people = partial(why_not, services, fresh=True)\n"
              "self.cards.after_draw = homes.refresh_for\n"
              "policies.vet = check\n"
              "store.audit.refused: Callable[[str], None] = count\n"
              "approvals.edits.set_step_up_handler(confirm)\n")
    assert wiring(before) == [
        "workspaces.on_uninstalled.append(", "tenancy.on_built.append(", "services.confirmations.people = ",
        "self.cards.after_draw = ", "policies.vet = ", "store.audit.refused = ", "approvals.edits.set_step_up_handler("]
    innocent = ("self.on_built = []\nself.after_draw = None\nself.on_change(channel)\napprovals.on_decided(a)\n"
                "web_app.on_startup.append(start)\nweb_app.on_cleanup.append(stop)\nitems.append(x)\n"
                "parts.api.card_link = link\nslack.session = session\n")
    assert wiring(innocent) == []


def defaults_built(source: str | ast.Module) -> list[str]:
    """Where `source` builds a part as a default: `<x> or create_*(...)`, as written."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree_of(source)):
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
            found.extend((call.lineno, f"or {name}(") for call in node.values[1:] if isinstance(call, ast.Call)
                         and (name := dotted(call.func).rsplit(".", 1)[-1]).startswith("create_"))
    return [said for _, said in sorted(found)]


def test_no_part_is_built_as_a_default_outside_the_root(trees: dict[str, ast.Module]) -> None:
    wrong = {name: found for name, tree in trees.items() if name != ROOT_MODULE and (found := defaults_built(tree))}
    assert wrong == {}


def test_the_defaults_check_can_fail() -> None:
    root = next(path for name, path in modules() if name == ROOT_MODULE)
    assert "or create_services(" in defaults_built(root.read_text())  # the root may: create_worker's
    before = ("workspaces = workspaces or create_workspaces(services)\n"
              "app = given or slackapp.create_bolt_app(services, workspaces)\n")
    assert defaults_built(before) == ["or create_workspaces(", "or create_bolt_app("]
    assert defaults_built("x = a or b\ny = a or make(b)\nz = create_x() or a\n") == []


def built(source: str | ast.Module, part: str) -> list[int]:
    """The lines where `source` builds `part` (a call of `part` or of `<x>.part`)."""
    return sorted(node.lineno for node in ast.walk(tree_of(source))
                  if isinstance(node, ast.Call) and dotted(node.func).rsplit(".", 1)[-1] == part)


def test_the_core_builds_no_redaction(trees: dict[str, ast.Module]) -> None:
    wrong = {name: found for name, tree in trees.items()
             if name.startswith(CORE + ".") and (found := built(tree, "Hiding"))}
    assert wrong == {}


def test_the_redaction_check_can_fail() -> None:
    root = next(path for name, path in modules() if name == ROOT_MODULE)
    assert built(root.read_text(), "Hiding")  # the root builds it
    before = "self.hiding = hiding or Hiding(store, rules=dict)\nh = redaction.Hiding(store)\nHidingRules()\n"
    assert built(before, "Hiding") == [1, 2]


def core_imports(source: str | ast.Module) -> list[tuple[str, str]]:
    """What `source` imports of the approval core: (module, name) for `from <module> import <name>`, (module, '')
    for `import <module>`."""
    found: list[tuple[str, str]] = []
    for node in statements(tree_of(source)):
        if isinstance(node, ast.ImportFrom) and node.module and (
                node.module == CORE or node.module.startswith(CORE + ".")):
            found.extend((node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend((alias.name, "") for alias in node.names
                         if alias.name == CORE or alias.name.startswith(CORE + "."))
    return found


def internals(source: str | ast.Module) -> list[str]:
    """The core's internals `source` imports: a module of the core but `PUBLIC_MODULES`, or a name its package does
    not export."""
    exported = set(bot.approvals.__all__)
    return [f"{module}.{name}" if name else module for module, name in core_imports(source)
            if (module == CORE and name not in exported) or (module != CORE and module not in PUBLIC_MODULES)]


def test_surfaces_import_only_the_cores_public_names(trees: dict[str, ast.Module]) -> None:
    wrong = {name: found for name, tree in trees.items()
             if any(name == s or name.startswith(s + ".") for s in SURFACES) and (found := internals(tree))}
    assert wrong == {}


def test_the_surface_check_can_fail() -> None:
    """A surface that reaches into the core (the imports every surface had before the core said its names) is seen;
    the package's names and the public modules pass."""
    assert internals("from bot.approvals.service import REFUSAL_QUIET, ApprovalService\n"
                     "from bot.approvals.due_loops import DueSweeper\nimport bot.approvals.chain\n"
                     "from bot.approvals import DecisionChain\n") == [
        "bot.approvals.service.REFUSAL_QUIET", "bot.approvals.service.ApprovalService",
        "bot.approvals.due_loops.DueSweeper", "bot.approvals.chain", "bot.approvals.DecisionChain"]
    assert internals("from bot.approvals import ApprovalService, Events\nfrom bot.approvals.rights import is_admin\n"
                     "from bot.approvals.refusals import STORAGE_DOWN\nfrom bot.store import Store\n") == []


def constructions(source: str | ast.Module, name: str) -> int:
    """How many calls of `name(...)` (or `<x>.name(...)`) `source` makes."""
    return sum(1 for node in ast.walk(tree_of(source)) if isinstance(node, ast.Call)
               and ((isinstance(node.func, ast.Name) and node.func.id == name)
                    or (isinstance(node.func, ast.Attribute) and node.func.attr == name)))


def test_teams_people_are_built_once(trees: dict[str, ast.Module]) -> None:
    """One `TeamsPeople` a worker (issue 88): built with who is who (bot/services.py `who_is_who`, called by the root)
    and handed to Teams, the step-up votes' check and the pages' sign-in; three were built before."""
    found = {name: n for name, tree in trees.items() if (n := constructions(tree, "TeamsPeople"))}
    assert found == {"bot.services": 1}
    before = ("people = TeamsPeople(settings, store, directory)\n"
              "x.people = TeamsPeople(settings, s.store, s.directory).checking(check)\n")
    assert constructions(before, "TeamsPeople") == 2
