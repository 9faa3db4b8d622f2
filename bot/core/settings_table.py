"""The docs' reference table of the process settings (docs/operators/configuration.md), generated from the
fields of the settings classes (bot/core/settings.py): `python -m bot.core.settings_table --markdown`. The README
keeps a short table of the settings people set first, which tests/core/test_settings_reference.py keeps true to
these fields."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pydantic import SecretStr
from pydantic.fields import FieldInfo

from bot.core import markdown_tables
from bot.core.settings import Settings, StoreSettings

# Variables in the table that are no field of these classes (read elsewhere): (variable, required, default
# cell, meaning). None today: every process setting is a field.
_READ_ELSEWHERE: tuple[tuple[str, str, str, str], ...] = ()


def _shown_default(field: FieldInfo) -> str:
    """The default as people read it: the field's `shown_default`, else its value (nothing when none)."""
    extra = field.json_schema_extra
    shown = extra.get("shown_default") if isinstance(extra, dict) else None
    if isinstance(shown, str):
        return f"`{shown}`"
    value = field.get_default()
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None or value in ("", ()):
        return ""
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def markdown(settings: type[StoreSettings] = Settings) -> str:
    """The docs' table of the process settings: the required variables, then the others, each in the order
    declared (a parent's fields first), then `_READ_ELSEWHERE`."""
    rows: list[Sequence[str]] = []
    variables = settings.variables()
    fields = list(settings.model_fields.items())
    for name, field in [f for f in fields if f[1].is_required()] + [f for f in fields if not f[1].is_required()]:
        variable = variables[name]
        default = "" if field.is_required() else _shown_default(field)
        rows.append((f"`{variable}`", "yes" if field.is_required() else "", default, field.description or ""))
    rows += [(f"`{variable}`", *cells) for variable, *cells in _READ_ELSEWHERE]
    return markdown_tables.table(("variable", "required", "default", "meaning"), rows)


if __name__ == "__main__":
    raise SystemExit(markdown_tables.main(sys.argv[1:], "bot.core.settings_table", markdown))
