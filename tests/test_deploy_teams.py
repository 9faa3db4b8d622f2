"""What deploy/teams/ ships (docs/operators/teams.md): the Teams app manifest, filled as `python -m bot teams
manifest` fills it, is valid by the Teams manifest schema v1.17 (vendored: tests/support/schemas/README.md says from
where), with the bot in every scope and no files; its icons are the sizes Teams takes (read from the PNGs), the
outline white on transparent; and the command writes the zip an admin uploads, refusing a bad app id or host."""

from __future__ import annotations

import json
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import bot
from bot.__main__ import main
from bot.cli.teams import ManifestError, filled
from bot.core.version import release_of
from tests.support.source import ROOT

TEAMS = ROOT / "deploy" / "teams"
SCHEMA = ROOT / "tests" / "support" / "schemas" / "teams-manifest-1.17.schema.json"
APP_ID = "6f1c2b3a-0d4e-4f5a-8b6c-7d8e9f0a1b2c"
HOST = "approvals.example.com"
SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")


def template() -> str:
    return (TEAMS / "manifest.json").read_text()


def manifest() -> dict[str, Any]:
    return filled(template(), app_id=APP_ID, host=HOST)


def problems(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft4Validator(json.loads(SCHEMA.read_text()))
    return [f"{'.'.join(str(p) for p in error.path)}: {error.message}" for error in validator.iter_errors(document)]


def png(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and (8-bit RGBA files only, else []) the rows of pixels of a PNG, read by the standard library:
    its IHDR, its IDAT inflated and each scanline's filter undone (PNG spec, 9.2)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is no PNG"
    chunks: dict[bytes, bytes] = {}
    at = 8
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        chunks[kind] = chunks.get(kind, b"") + data[at + 8:at + 8 + length]
        at += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    if (depth, colour, interlace) != (8, 6, 0):
        return width, height, []
    raw, stride, rows = zlib.decompress(chunks[b"IDAT"]), width * 4, []
    previous = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a, b = line[x - 4] if x >= 4 else 0, previous[x]
            c = previous[x - 4] if x >= 4 else 0
            p = a + b - c
            paeth = a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else b if abs(p - b) <= abs(p - c) else c
            line[x] = (line[x] + (0, a, b, (a + b) // 2, paeth)[kind]) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, rows


def test_the_filled_manifest_is_valid_by_the_teams_schema() -> None:
    document = manifest()
    assert problems(document) == []
    assert document["manifestVersion"] == "1.17"
    assert document["$schema"].endswith("/v1.17/MicrosoftTeams.schema.json")
    assert document["id"] == APP_ID and document["validDomains"] == [HOST]
    assert document["version"] == release_of(bot.__version__) and SEMVER.fullmatch(document["version"])


def test_the_schema_refuses_what_teams_refuses() -> None:
    """The check can fail: an unfilled app id, a fourth scope and an unknown field are each named."""
    raw = json.loads(template())
    assert any(p.startswith("id:") for p in problems(raw))
    wrong = manifest()
    wrong["bots"][0]["scopes"] = ["team", "meeting"]
    wrong["bot"] = {}
    found = problems(wrong)
    assert any(p.startswith("bots.0.scopes.1") for p in found) and any("'bot'" in p for p in found), found


def test_the_bot_is_the_azure_bot_in_every_scope_without_files() -> None:
    template_text = template()
    assert set(re.findall(r"\$\{[A-Z_]+\}", template_text)) == {"${TEAMS_APP_ID}", "${PUBLIC_HOST}", "${VERSION}"}
    (only,) = manifest()["bots"]
    assert only["botId"] == APP_ID
    assert sorted(only["scopes"]) == ["groupChat", "personal", "team"]
    assert only["supportsFiles"] is False


def test_the_icons_are_the_sizes_teams_takes_the_outline_white_on_transparent() -> None:
    icons = manifest()["icons"]
    assert png(TEAMS / icons["color"])[:2] == (192, 192)
    width, height, rows = png(TEAMS / icons["outline"])
    assert (width, height) == (32, 32)
    assert rows, "the outline icon must be 8-bit RGBA (transparent)"
    pixels = [row[x:x + 4] for row in rows for x in range(0, len(row), 4)]
    seen = {bytes(p[:3]) for p in pixels if p[3]}
    assert seen == {b"\xff\xff\xff"}, seen  # white where drawn
    assert sum(1 for p in pixels if p[3] == 0) > len(pixels) // 2  # transparent around it


def test_the_command_writes_the_package_an_admin_uploads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "app.zip"
    assert main(["teams", "manifest", "--app-id", APP_ID.upper(), "--host", HOST, "--out", str(out)]) == 0
    with zipfile.ZipFile(out) as package:
        assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
        document = json.loads(package.read("manifest.json"))
        assert package.read("outline.png") == (TEAMS / "outline.png").read_bytes()
    assert problems(document) == [] and document["id"] == APP_ID
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize(("app_id", "host", "said"), [
    ("not-a-guid", HOST, "no Microsoft App ID"),
    (APP_ID, "https://approvals.example.com/", "no host name"),
    (APP_ID, "approvals.example.com:8443", "no host name"),
])
def test_a_bad_app_id_or_host_is_refused_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], app_id: str, host: str, said: str,
) -> None:
    out = tmp_path / "app.zip"
    assert main(["teams", "manifest", "--app-id", app_id, "--host", host, "--out", str(out)]) == 2
    assert said in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(ManifestError, match=said):
        filled(template(), app_id=app_id, host=host)
