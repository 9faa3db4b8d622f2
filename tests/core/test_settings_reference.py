"""The process settings' reference table (docs/operators/configuration.md) is generated from the fields of the
settings classes (`bot/core/settings.py`): `python -m bot.core.settings_table --markdown`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import Field

from bot.core.settings import ApproverSettings, Settings, StoreSettings
from bot.core.settings_table import markdown

CONFIG_PAGE = Path(__file__).resolve().parents[2] / "docs" / "operators" / "configuration.md"
README = Path(__file__).resolve().parents[2] / "README.md"


def docs_table() -> str:
    text = CONFIG_PAGE.read_text()
    start = text.index("| variable | required | default | meaning |")
    return text[start : text.index("\n\n", start) + 1]


def documented_variables() -> list[str]:
    return [line.split("|")[1].strip().strip("`") for line in docs_table().splitlines()[2:]]


@pytest.mark.slow
def test_the_docs_table_is_the_generated_one() -> None:
    assert docs_table() == markdown(), "run: python -m bot.core.settings_table --markdown"
    made = subprocess.run(
        [sys.executable, "-m", "bot.core.settings_table", "--markdown"], capture_output=True, text=True, check=True
    )
    assert made.stdout == markdown()


def test_every_field_of_every_layer_is_documented_once() -> None:
    documented = documented_variables()
    assert len(documented) == len(set(documented))
    for layer in (StoreSettings, ApproverSettings, Settings):
        for name, field in layer.model_fields.items():
            assert field.description is not None, name
            assert layer.variables()[name] in documented, name
    assert set(Settings.variables().values()) <= set(documented)


def test_required_and_defaults_are_read_from_the_fields() -> None:
    rows = {line.split("|")[1].strip(): line for line in docs_table().splitlines()[2:]}
    assert rows["`SLACK_BOT_TOKEN`"].startswith("| `SLACK_BOT_TOKEN` | yes | | ")
    assert rows["`REDIS_URL`"].startswith("| `REDIS_URL` | | `redis://localhost:6379/0` | ")
    assert rows["`APPROVAL_TIMEOUT`"].startswith("| `APPROVAL_TIMEOUT` | | `10m` | ")
    assert rows["`REDIS_TIMEOUT`"].startswith("| `REDIS_TIMEOUT` | | `2` | ")
    assert rows["`MODEL_CACHE`"].startswith("| `MODEL_CACHE` | | `false` | ")
    assert rows["`ADMIN_USERS`"].startswith("| `ADMIN_USERS` | | | ")


def test_the_rows_say_all_a_setting_does() -> None:
    """MODEL_CONFIG's model writes the one-sentence summary of a program's ask too (bot/runs/summaries.py), and
    TOKEN_CHECK_INTERVAL's checks ask about the keys' sponsors too (bot/slackapp/listeners/sponsors.py)."""
    rows = {line.split("|")[1].strip(): line for line in docs_table().splitlines()[2:]}
    assert "one-sentence summary of a program's ask" in rows["`MODEL_CONFIG`"]
    assert "sponsors (`users.info`" in rows["`TOKEN_CHECK_INTERVAL`"]


class WithAnotherText(Settings):
    port: int = Field(default=3000, validation_alias="PORT", description="the port")


class WithAnotherDefault(Settings):
    port: int = Field(default=8080, validation_alias="PORT", description="HTTP port")


class WithANewSetting(Settings):
    greeting: str = Field(default="hello", validation_alias="GREETING", description="what the bot says first")


def test_the_docs_check_can_fail() -> None:
    assert markdown(WithAnotherText) != docs_table()
    assert markdown(WithAnotherDefault) != docs_table()
    assert "| `GREETING` | | `hello` | what the bot says first |" in markdown(WithANewSetting).splitlines()
    assert markdown(WithANewSetting) != docs_table()


def test_the_readmes_short_table_names_real_settings_with_their_defaults() -> None:
    """The README keeps a short table of the settings people set first: each variable it names is a setting, and
    what it says of the default is the field's (required; a value; or none)."""
    generated = {}
    for line in markdown().splitlines()[2:]:
        variable, required, default = (cell.strip() for cell in line.split("|")[1:4])
        generated[variable.strip("`")] = (required, default)
    text = README.read_text()
    start = text.index("| variable | default | what |")
    rows = text[start : text.index("\n\n", start)].splitlines()[2:]
    assert len(rows) >= 10
    for row in rows:
        names_cell, default_cell = (cell.strip() for cell in row.split("|")[1:3])
        names = re.findall(r"`([A-Z0-9_]+)`", names_cell)
        assert names and all(name in generated for name in names), row
        parts = re.split(r" / |, ", default_cell) if len(names) > 1 else [default_cell]
        said = parts if len(parts) == len(names) else [default_cell] * len(names)
        for name, default in zip(names, said, strict=True):
            required, value = generated[name]
            if default == "(required)":
                assert required == "yes", (name, row)
            elif default.startswith("`"):
                assert default == value, (name, row)
            else:  # "none", "demo model", "none: ...": no default value
                assert value == "" and required == "", (name, row)
