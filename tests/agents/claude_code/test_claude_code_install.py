"""`agent-approvals-claude-code install`: the hook merged into Claude Code's settings and taken out again, never
clobbering another hook or setting; idempotent; a narrower matcher replaces ours; a file that is not a JSON
object is refused and left as it is. The command's `main` runs in this process (the real hook runs what it installs
here, and the real CLI in tests/agents/claude_code/test_claude_code_cli.py)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from agent_approvals.claude_code import settings
from agent_approvals.claude_code.__main__ import main

OTHERS: dict[str, Any] = {
    "permissions": {"allow": ["Bash(npm test)"], "deny": ["Read(.env)"]},
    "hooks": {
        "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "./check-bash.sh"}]}],
        "PostToolUse": [{"matcher": "Write|Edit", "hooks": [{"type": "command", "command": "npx prettier -w"}]}],
    },
    "model": "opus",
}


HOOK = f"{shlex.quote(sys.executable)} -m agent_approvals.claude_code"  # what install writes: this interpreter
EXAMPLE = '"$CLAUDE_PROJECT_DIR"/.venv/bin/python -m agent_approvals.claude_code'  # a venv in the project


def cli(*args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`agent-approvals-claude-code install *args` (in this process), HOME the only setting."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["install", *args], environ={"HOME": str(home)} if home else {})
    return subprocess.CompletedProcess(["install", *args], code, out.getvalue(), err.getvalue())


def ours(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(g["matcher"], h) for g in data.get("hooks", {}).get("PreToolUse", []) for h in g["hooks"]
            if settings.is_ours(h)]


def test_install_into_a_new_project_then_again_changes_nothing(tmp_path: Path) -> None:
    done = cli("--dir", str(tmp_path))
    assert done.returncode == 0 and "installed the approval hook" in done.stdout
    path = tmp_path / ".claude" / "settings.json"
    data = json.loads(path.read_text())
    assert data == {"hooks": {"PreToolUse": [{"matcher": "*", "hooks": [
        {"type": "command", "command": f"{HOOK} hook --wait 50 || exit 2", "timeout": 60}]}]}}
    before = path.read_text()
    again = cli("--dir", str(tmp_path), "--project")
    assert again.returncode == 0 and "already" in again.stdout and path.read_text() == before


def test_other_hooks_and_settings_are_kept_and_uninstall_restores_them(tmp_path: Path) -> None:
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text(json.dumps(OTHERS))
    assert cli("--dir", str(tmp_path), "--matcher", "Bash|Write|Edit|mcp__.*", "--wait", "20").returncode == 0
    data = json.loads(path.read_text())
    assert data["permissions"] == OTHERS["permissions"] and data["model"] == "opus"
    assert data["hooks"]["PostToolUse"] == OTHERS["hooks"]["PostToolUse"]
    assert data["hooks"]["PreToolUse"][0] == OTHERS["hooks"]["PreToolUse"][0]
    assert ours(data) == [("Bash|Write|Edit|mcp__.*", {
        "type": "command", "command": f"{HOOK} hook --wait 20 || exit 2", "timeout": 30})]
    done = cli("--dir", str(tmp_path), "--uninstall")
    assert done.returncode == 0 and "removed" in done.stdout
    assert json.loads(path.read_text()) == OTHERS
    assert "no approval hook" in cli("--dir", str(tmp_path), "--uninstall").stdout


def test_a_narrower_matcher_replaces_ours_and_a_shared_group_keeps_the_others() -> None:
    hook = settings.command_hook(wait=30)
    once = settings.merged(OTHERS, hook)
    narrowed = settings.merged(once, hook, matcher="Bash")
    assert ours(narrowed) == [("Bash", hook)]
    shared = json.loads(json.dumps(OTHERS))
    shared["hooks"]["PreToolUse"][0]["hooks"].append(settings.command_hook(command="/opt/venv/bin/" + settings.COMMAND))
    assert settings.removed(shared) == OTHERS  # ours out of the user's group, their hook kept
    assert settings.removed(settings.merged({}, hook)) == {}


def test_the_http_hook_and_the_user_settings(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = cli("--user", "--http", "https://approvals.example.com/", "--wait", "40", home=home)
    assert done.returncode == 0, done.stderr
    data = json.loads((home / ".claude" / "settings.json").read_text())
    assert ours(data) == [("*", {
        "type": "http", "url": "https://approvals.example.com/api/v1/hooks/claude-code?wait=40",
        "headers": {"Authorization": "Bearer $AGENT_APPROVALS_KEY"}, "allowedEnvVars": ["AGENT_APPROVALS_KEY"],
        "timeout": 50})]
    assert cli("--user", "--uninstall", home=home).returncode == 0
    assert json.loads((home / ".claude" / "settings.json").read_text()) == {}


def test_settings_that_are_not_a_json_object_are_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    for text in ('{"hooks": {"PreToolUse": [', "[1, 2]", '{"hooks": []}'):
        path.write_text(text)
        done = cli("--dir", str(tmp_path))
        assert done.returncode == 2 and "agent-approvals-claude-code: " in done.stderr, done
        assert path.read_text() == text


def test_the_example_project_setting_is_what_install_writes(tmp_path: Path) -> None:
    example = json.loads((Path(__file__).resolve().parents[3] / "examples" / "claude-code" / "settings.json")
                         .read_text())
    [(matcher, hook)] = ours(example)
    assert hook == settings.command_hook(wait=50, command=EXAMPLE)
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text(json.dumps(settings.removed(example)))
    assert cli("--dir", str(tmp_path), "--matcher", matcher, "--command", EXAMPLE).returncode == 0
    assert json.loads(path.read_text()) == example


@pytest.mark.slow
def test_the_hook_needs_no_mcp_and_the_channel_names_its_extra() -> None:
    hook = ("import sys; sys.modules['mcp'] = None\n"  # as if it were not installed
            "from agent_approvals.claude_code.__main__ import main\n"
            "sys.exit(main(['install', '--help']))\n")
    assert subprocess.run([sys.executable, "-c", hook], capture_output=True, timeout=120).returncode == 0
    channel = "import sys; sys.modules['mcp'] = None\nimport agent_approvals.claude_code.channel\n"
    done = subprocess.run([sys.executable, "-c", channel], capture_output=True, text=True, timeout=120)
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode != 0 and 'pip install "agent-approvals[claude-code]"' in last, last


@pytest.mark.slow
def test_the_installed_command_runs_without_the_venv_on_path_and_a_moved_one_blocks(tmp_path: Path) -> None:
    """#51.2: Claude Code runs hooks from a shell whose PATH may not hold the virtual environment: the installed
    command names the interpreter by its absolute path; if it moves, the command exits 2 (Claude Code blocks the
    call), never 127 (no decision: the call would run). `install` runs here as a real process, as people run it."""
    installed = subprocess.run([sys.executable, "-m", "agent_approvals.claude_code", "install", "--dir", str(tmp_path)],
                               capture_output=True, text=True, timeout=60, env={**os.environ, "HOME": str(tmp_path)})
    assert installed.returncode == 0 and "installed the approval hook" in installed.stdout, installed.stderr
    [(_, hook)] = ours(json.loads((tmp_path / ".claude" / "settings.json").read_text()))
    bare = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no venv, no console script on PATH
    event = json.dumps({"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "ls"}})
    done = subprocess.run(["/bin/sh", "-c", hook["command"]], input=event, capture_output=True, text=True,
                          timeout=60, env=bare)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"  # no bot set: denied
    moved = hook["command"].replace(shlex.quote(sys.executable), str(tmp_path / "gone" / "python"), 1)
    done = subprocess.run(["/bin/sh", "-c", moved], input=event, capture_output=True, text=True, timeout=60, env=bare)
    assert done.returncode == 2, (done.returncode, done.stderr)
