"""The docs' reference table of the process settings (docs/operators/configuration.md), generated from the
fields of the settings classes (bot/core/settings.py): `python -m bot.core.settings_table --markdown`. The README
keeps a short table of the settings people set first, which tests/core/test_settings_reference.py keeps true to
these fields."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pydantic import SecretStr
from pydantic.fields import FieldInfo

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


def _row(*cells: str) -> str:
    return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"


def markdown(settings: type[StoreSettings] = Settings) -> str:
    """The docs' table of the process settings: the required variables, then the others, each in the order
    declared (a parent's fields first), then `_READ_ELSEWHERE`."""
    rows = [_row("variable", "required", "default", "meaning"), _row("---", "---", "---", "---")]
    variables = settings.variables()
    fields = list(settings.model_fields.items())
    for name, field in [f for f in fields if f[1].is_required()] + [f for f in fields if not f[1].is_required()]:
        variable = variables[name]
        default = "" if field.is_required() else _shown_default(field)
        rows.append(_row(f"`{variable}`", "yes" if field.is_required() else "", default, field.description or ""))
    rows += [_row(f"`{variable}`", *cells) for variable, *cells in _READ_ELSEWHERE]
    return "\n".join(rows) + "\n"


def main(argv: Sequence[str]) -> int:
    """`python -m bot.core.settings_table --markdown`: print the docs' table of process settings."""
    if list(argv) != ["--markdown"]:
        print("usage: python -m bot.core.settings_table --markdown", file=sys.stderr)
        return 2
    sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
