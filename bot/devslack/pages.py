"""What a local stand-in's page answers and serves (the local Slack's, bot/devslack/control.py; the local Teams',
bot/devmsteams/page.py): served on loopback, only loopback host names (DNS rebinding cannot reach it); a POST only
from the page itself (another site open in the same browser must not type commands or click cards); its static
files, by a plain name, the HTML with the page's Content-Security-Policy."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from aiohttp import web

LOOPBACK_NAMES: Final = frozenset({"127.0.0.1", "localhost", "::1"})
_STATIC_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9_.-]*\.(html|css|js|svg)$")
_CONTENT_TYPES: Final = {"html": "text/html", "css": "text/css", "js": "text/javascript", "svg": "image/svg+xml"}


def host_name(host: str) -> str:
    """The name part of a Host header: ``127.0.0.1:3000`` -> ``127.0.0.1``, ``[::1]:3000`` -> ``::1``."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def refused(status: int, message: str) -> web.Response:
    return web.json_response({"ok": False, "error": message}, status=status)


def foreign(request: web.Request, *, loopback_only: bool, standin: str, posts: str = "",
            checks_posts: bool = True) -> web.Response | None:
    """A refusal (403) for a request `standin`'s page must not answer: another host name while it is served on
    loopback (`loopback_only`), a POST from another site (when `checks_posts`; `posts`: the words for its POSTs,
    e.g. "control ")."""
    if loopback_only and host_name(request.host) not in LOOPBACK_NAMES:
        return refused(403, f"this local {standin} answers only on 127.0.0.1 / localhost")
    if checks_posts and request.method == "POST":
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"{request.scheme}://{request.host}":
            return refused(403, f"cross-origin {posts}requests are not allowed")
        if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            return refused(403, f"cross-site {posts}requests are not allowed")
    return None


def static_file(folder: Path, name: str, *, csp: str) -> web.StreamResponse:
    """The page's file `name` in `folder` (404 for another name, or none such); HTML with `csp` and no referrer."""
    match = _STATIC_NAME.fullmatch(name)
    path = folder / name
    if match is None or not path.is_file():
        return web.Response(status=404, text="not found")
    headers = {"Content-Type": f"{_CONTENT_TYPES[match.group(1)]}; charset=utf-8", "Cache-Control": "no-cache",
               "X-Content-Type-Options": "nosniff"}
    if name.endswith(".html"):
        headers.update({"Content-Security-Policy": csp, "Referrer-Policy": "no-referrer"})
    return web.Response(body=path.read_bytes(), headers=headers)
