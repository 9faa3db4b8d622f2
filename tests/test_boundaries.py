"""Surfaces are ports (issue 88): the approval core (bot/approvals/, bot/people/) imports no surface's package nor
a surface's SDK, and no surface imports another's. Read from the source (every import, also one inside a function
or under TYPE_CHECKING), with no exception: the last Slack parts left the core and Teams' last use of Slack's parts
went in #88's fourth stage (the lists of what still did, which only shrank, are gone with them)."""

from __future__ import annotations

import ast
import re

import pytest

from tests.support.source import ROOT, modules

BOT = ROOT / "bot"

# a surface: its packages and its SDKs (the stored word is the key)
SURFACES: dict[str, tuple[str, ...]] = {
    "slack": ("bot.slack", "bot.slackapp", "slack_sdk", "slack_bolt"),
    "teams": ("bot.msteams", "microsoft_teams"),
    "email": ("bot.email", "aiosmtplib"),
    "push": ("bot.push", "pywebpush"),
}
CORE = ("bot.approvals", "bot.people")

def imported(source: str) -> set[str]:
    """Every module `source` imports, wherever the import stands."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def surfaces_of(source: str, *, but: str = "") -> set[str]:
    """The surfaces (their stored words) whose packages or SDKs `source` imports, `but` its own."""
    return {word for word, packages in SURFACES.items() if word != but
            for name in imported(source) if any(name == p or name.startswith(p + ".") for p in packages)}


def in_any(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
def test_the_core_imports_no_surface() -> None:
    found = {name: used for name, path in modules() if in_any(name, CORE) and (used := surfaces_of(path.read_text()))}
    assert found == {}, ("the approval core imports a surface: it publishes events and answers `Decisions.decide`;"
                         " a surface subscribes in the root (bot/root.py)")


# Slack's markup (mrkdwn): a mention, a channel, a group, a date, a link `<url|words>`, an emoji code
SLACK_MARKUP = re.compile(r"<[@#!]|<[a-z]+://[^>|]*\||<\{[^}]*\}\||^:[a-z_]+:|\s:[a-z_]+:\s")


def markup_in(source: str) -> list[str]:
    """The string literals (and f-strings' literal parts) of `source` that write Slack's markup; docstrings aside."""
    tree = ast.parse(source)
    docs = {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body
            and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docs and SLACK_MARKUP.search(node.value)]


def test_the_core_writes_no_slack_markup() -> None:
    """The core's words name people, channels, dates and links through the surface's `Writing`
    (bot/approvals/ports.py), never in Slack's markup: Teams' cards, the e-mail and the pages show them too."""
    found = {name: said for name, path in modules() if in_any(name, CORE) and (said := markup_in(path.read_text()))}
    assert found == {}, "the approval core writes Slack's markup: write it through `Writing`"


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
def test_no_surface_imports_another() -> None:
    found: dict[str, set[str]] = {}
    for name, path in modules():
        own = next((word for word, packages in SURFACES.items() if in_any(name, packages[:2])), None)
        if own is not None and (used := surfaces_of(path.read_text(), but=own)):
            found[name] = used
    assert found == {}, "a surface imports another: what they share is the core's (bot/core, bot/approvals/ports.py)"


# the runs (bot/runs/): a Slack `/agent` run is written in its thread by bot/sessions/ (`RunThreads`: its words through
# `writing`, its ending through `post_ending`), its cards come through the supervisor's port `Cards` (bot/slack/due.py
# `SlackDue`) and its requester's Home through `Homes`, all composed in the root: the runs import no Slack
RUNS = "bot.runs"


def slack_of(source: str) -> set[str]:
    """The Slack modules (our package's or Slack's SDK) `source` imports."""
    return {name for name in imported(source) if in_any(name, SURFACES["slack"])}


def test_the_runs_import_no_slack() -> None:
    found = {name: used for name, path in modules() if in_any(name, (RUNS,)) and (used := slack_of(path.read_text()))}
    assert found == {}, ("bot/runs imports Slack: the runs reach Slack through ports (the supervisor's `Cards`:"
                         " bot/slack/due.py; `RunThreads`, `Homes`), composed in the root")


def test_the_boundary_check_can_fail() -> None:
    lazy = "def f():\n    from slack_sdk.errors import SlackApiError\n    return SlackApiError\n"
    typed = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bot.msteams.people import TeamsPeople\n"
    assert surfaces_of(lazy) == {"slack"}
    assert surfaces_of(typed) == {"teams"}
    assert surfaces_of("import aiosmtplib\nfrom bot.email.links import Links\n") == {"email"}
    assert surfaces_of("from bot.slack.directory import Directory\n", but="slack") == set()
    assert surfaces_of("from bot.slack.directory import Directory\n", but="teams") == {"slack"}
    assert surfaces_of("from bot.slackish import x\nfrom bot.people import People\nfrom . import y\n") == set()
    owed = "def f():\n    from slack_sdk.errors import SlackApiError\n    from bot.slack.delivery import failing\n"
    assert slack_of(owed) == {"slack_sdk.errors", "bot.slack.delivery"}  # (the supervisor's, before #88's leftovers)
    assert markup_in('def f(u):\n    """<@U0> in a docstring is prose."""\n    return f"Granted: <@{u}>"\n') == [
        "Granted: <@"]
    assert markup_in('X = ":hourglass: Your attestation"\nY = "<https://x|open>"\nZ = "a <b> c"\n') == [
        ":hourglass: Your attestation", "<https://x|open>"]
    assert (BOT / "approvals" / "decisions.py").is_file()  # the one entry, itself surface-free (checked above)
    assert surfaces_of((BOT / "approvals" / "decisions.py").read_text()) == set()
