"""The process settings' reference table (docs/operators/configuration.md) is generated from the fields of the
settings classes (`bot/core/settings.py`): `python -m bot.core.settings --markdown`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pydantic import Field

from bot.core.settings import ApproverSettings, Settings, StoreSettings
from bot.core.settings_table import markdown

CONFIG_PAGE = Path(__file__).resolve().parents[2] / "docs" / "operators" / "configuration.md"


def docs_table() -> str:
    text = CONFIG_PAGE.read_text()
    start = text.index("| variable | required | default | meaning |")
    return text[start : text.index("\n\n", start) + 1]


def documented_variables() -> list[str]:
    return [line.split("|")[1].strip().strip("`") for line in docs_table().splitlines()[2:]]


def test_the_docs_table_is_the_generated_one() -> None:
    assert docs_table() == markdown(), "run: python -m bot.core.settings --markdown"
    made = subprocess.run(
        [sys.executable, "-m", "bot.core.settings", "--markdown"], capture_output=True, text=True, check=True
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
