"""The hook in Claude Code's settings: merged into `.claude/settings.json` (a project's) or `~/.claude/settings.json`
(the user's), taken out again, never touching anything else there.

    {"hooks": {"PreToolUse": [{"matcher": "Bash|Write|Edit|mcp__.*", "hooks": [
        {"type": "command", "command": "/srv/venv/bin/python -m agent_approvals.claude_code hook --wait 50 || exit 2",
         "timeout": 60}]}]}}

The command names the interpreter `install` ran with, by its absolute path (`default_command`): Claude Code runs
hooks from a shell whose PATH may not hold the virtual environment, and a command "not found" (exit 127) is no
decision to it: the call would run. `|| exit 2` turns any failure to start the hook (the interpreter moved or
deleted: run `install` again) into exit 2, which blocks the call; the hook itself always exits 0 with a decision.

Ours is the hook whose command runs `agent-approvals-claude-code hook` (or `-m agent_approvals.claude_code hook`),
or the HTTP hook at the bot's `/api/v1/hooks/claude-code`. Installing again replaces ours (a new matcher, a new
wait) and leaves every other hook, matcher and setting as it was; uninstalling removes ours and the groups and
keys that held only it. A settings file that is not a JSON object is refused, never overwritten.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

from agent_approvals.claude_code.hook import MARGIN, WAIT

COMMAND = "agent-approvals-claude-code"
MODULE = "agent_approvals.claude_code"
HTTP_PATH = "/api/v1/hooks/claude-code"
KEY_ENV = "AGENT_APPROVALS_KEY"
MATCHER = "*"  # every tool; narrow it with --matcher, e.g. "Bash|Write|Edit|mcp__.*"


class BadSettings(ValueError):
    """The settings file cannot be read as Claude Code's settings (it is left as it is)."""


def settings_path(*, user: bool, project_dir: Path | None = None, home: Path | None = None) -> Path:
    if user:
        return (home or Path.home()) / ".claude" / "settings.json"
    return (project_dir or Path.cwd()) / ".claude" / "settings.json"


def default_command() -> str:
    """This interpreter, by its absolute path, running the hook's module (as `install` writes it)."""
    return f"{shlex.quote(sys.executable)} -m {MODULE}"


def command_hook(*, wait: float = WAIT, command: str | None = None, on_error: str = "deny") -> dict[str, Any]:
    """The command hook's entry: it runs `command hook` (`default_command()` by default), a failure to start it is
    exit 2 (the call blocked), and Claude Code's own timeout stays past ours."""
    line = f"{command or default_command()} hook --wait {wait:g}" + (
        f" --on-error {on_error}" if on_error != "deny" else "")
    return {"type": "command", "command": line + " || exit 2", "timeout": hook_timeout(wait)}


def http_hook(url: str, *, wait: float = WAIT, key_env: str = KEY_ENV) -> dict[str, Any]:
    """The HTTP hook's entry: Claude Code POSTs the hook's input to the bot, the key read from `key_env`."""
    return {"type": "http", "url": f"{url.rstrip('/')}{HTTP_PATH}?wait={wait:g}",
            "headers": {"Authorization": f"Bearer ${key_env}"}, "allowedEnvVars": [key_env],
            "timeout": hook_timeout(wait)}


def hook_timeout(wait: float) -> int:
    return int(wait + 2 * MARGIN + 0.999)


def is_ours(hook: Any) -> bool:
    if not isinstance(hook, dict):
        return False
    if hook.get("type") == "http":
        return HTTP_PATH in str(hook.get("url", ""))
    words = str(hook.get("command", "")).split()
    return any((w.endswith(COMMAND) or w == MODULE) and words[i + 1:i + 2] == ["hook"]
               for i, w in enumerate(words))


def merged(settings: dict[str, Any], hook: dict[str, Any], *, matcher: str = MATCHER) -> dict[str, Any]:
    """`settings` with `hook` as our one PreToolUse hook, under `matcher`; everything else kept."""
    out = removed(settings)
    hooks = out.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise BadSettings("its \"hooks\" is not an object")
    groups = hooks.setdefault("PreToolUse", [])
    if not isinstance(groups, list):
        raise BadSettings("its \"hooks.PreToolUse\" is not a list")
    groups.append({"matcher": matcher, "hooks": [hook]})
    return out


def removed(settings: dict[str, Any]) -> dict[str, Any]:
    """`settings` without our hook (and without the groups and keys that held only it)."""
    out: dict[str, Any] = json.loads(json.dumps(settings))  # a copy
    hooks = out.get("hooks")
    if not isinstance(hooks, dict) or not isinstance(hooks.get("PreToolUse"), list):
        return out
    kept = []
    for group in hooks["PreToolUse"]:
        if isinstance(group, dict) and isinstance(group.get("hooks"), list) and any(map(is_ours, group["hooks"])):
            group["hooks"] = [h for h in group["hooks"] if not is_ours(h)]
            if not group["hooks"]:
                continue
        kept.append(group)
    if kept:
        hooks["PreToolUse"] = kept
    else:
        del hooks["PreToolUse"]
        if not hooks:
            del out["hooks"]
    return out


def read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadSettings(f"{path} is not JSON ({exc}); left as it is") from None
    if not isinstance(data, dict):
        raise BadSettings(f"{path} is not a JSON object; left as it is")
    return data


def write(path: Path, settings: dict[str, Any]) -> None:
    """Replace the file at once (a crash leaves the old one or the new one, never half of one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".settings-", suffix=".json")
    os.fchmod(fd, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(settings, out, indent=2)
        out.write("\n")
    os.replace(temporary, path)


def install(path: Path, hook: dict[str, Any], *, matcher: str = MATCHER) -> bool:
    """Merge our hook into the settings at `path`; False when it was there already, as given."""
    before = read(path)
    after = merged(before, hook, matcher=matcher)
    if after == before:
        return False
    write(path, after)
    return True


def uninstall(path: Path) -> bool:
    """Take our hook out of the settings at `path`; False when it was not there."""
    before = read(path)
    after = removed(before)
    if after == before:
        return False
    write(path, after)
    return True
