"""`python -m bot teams manifest --app-id GUID --host HOST --out app.zip`: the Teams app package a Teams admin
uploads (docs/operators/teams.md): `deploy/teams/manifest.json` with its placeholders filled (`${TEAMS_APP_ID}`: the
Azure bot's Microsoft App ID, `${PUBLIC_HOST}`: the host the bot is reached at, `${VERSION}`: this release's
version, X.Y.Z: a development build's the release it leads to, as Teams takes semver only) and its two icons,
zipped flat as Teams wants them."""

from __future__ import annotations

import argparse
import json
import re
import zipfile
from pathlib import Path
from typing import Any, Final

from bot.cli.exits import failed
from bot.core.version import __version__, release_of

# deploy/teams/ of a clone (the package ships no copy: a release's clone or source archive has it)
MANIFEST_DIR: Final = Path(__file__).resolve().parents[2] / "deploy" / "teams"
PLACEHOLDERS: Final = ("${TEAMS_APP_ID}", "${PUBLIC_HOST}", "${VERSION}")
GUID: Final = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
HOST: Final = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")


class ManifestError(ValueError):
    """What keeps the app package from being made, in the operator's words."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("manifest",), help="manifest: write the Teams app package (a zip)")
    parser.add_argument("--app-id", required=True, help="the Azure bot's Microsoft App ID (TEAMS_APP_ID, a GUID)")
    parser.add_argument("--host", required=True, help="the host the bot is reached at (PUBLIC_URL's, e.g."
                        " approvals.example.com): the messaging endpoint's and the manifest's validDomains")
    parser.add_argument("--out", default="app.zip", help="where to write the package (default app.zip)")
    parser.add_argument("--from", dest="source", default=str(MANIFEST_DIR),
                        help="the folder holding manifest.json, color.png and outline.png (default: deploy/teams)")


def filled(template: str, *, app_id: str, host: str, version: str = release_of(__version__)) -> dict[str, Any]:
    """The manifest `template` (manifest.json's text) with its placeholders filled; ManifestError names a bad value.

    >>> filled('{"id": "${TEAMS_APP_ID}", "validDomains": ["${PUBLIC_HOST}"], "version": "${VERSION}"}',
    ...        app_id="00000000-0000-0000-0000-0000000000aa", host="approvals.example.com", version="1.2.3")
    {'id': '00000000-0000-0000-0000-0000000000aa', 'validDomains': ['approvals.example.com'], 'version': '1.2.3'}
    """
    if not GUID.fullmatch(app_id):
        raise ManifestError(f"--app-id {app_id!r} is no Microsoft App ID (a GUID: 8-4-4-4-12 hex digits)")
    if not HOST.fullmatch(host):
        raise ManifestError(f"--host {host!r} is no host name (approvals.example.com: no scheme, port or path)")
    text = template
    for placeholder, value in zip(PLACEHOLDERS, (app_id.lower(), host.lower(), version), strict=True):
        text = text.replace(placeholder, value)
    manifest: dict[str, Any] = json.loads(text)
    return manifest


def write_package(source: Path, out: Path, *, app_id: str, host: str) -> dict[str, Any]:
    """Write the zip Teams takes (manifest.json, color.png, outline.png at its top) to `out`; returns the manifest."""
    try:
        template = (source / "manifest.json").read_text(encoding="utf-8")
        icons = {name: (source / name).read_bytes() for name in ("color.png", "outline.png")}
    except OSError as exc:
        raise ManifestError(f"cannot read the manifest's folder {source}: {exc.strerror or exc} (--from DIR: the"
                            " folder deploy/teams of a clone)") from None
    manifest = filled(template, app_id=app_id, host=host)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as package:
        package.writestr("manifest.json", json.dumps(manifest, indent=2) + "\n")
        for name, data in icons.items():
            package.writestr(name, data)
    return manifest


def teams_command(args: argparse.Namespace) -> int:
    try:
        write_package(Path(args.source), Path(args.out), app_id=args.app_id, host=args.host)
    except ManifestError as exc:
        return failed(str(exc), 2)
    except OSError as exc:
        return failed(f"cannot write {args.out}: {exc.strerror or exc}", 1)
    print(f"wrote {args.out}: upload it in the Teams admin center (Teams apps > Manage apps > Upload new app)")
    return 0
