"""The bot's pages rendered from jinja2 templates (bot/templates/), never HTML built in strings: `render(name,
**context)`, through one Environment (`page_templates`, built once) in which every template is autoescaped, so
untrusted text (a title, a person's name, an approval's arguments) is text on the page, never markup, and a name the
context lacks is an error (`StrictUndefined`), never an empty string. Every value shown shows its direction controls
and invisible spaces (`bot.core.invisible.visible`: `<U+202E>`), so a path or a command reads as it runs.

    >>> render("sign_out.html", sign_out="/signin/logout").startswith('<form method="post" action="/signin/logout"')
    True

Scripts are templates too (`scripts/*.js`), included into a page's one inline script (allowed by its nonce): the
helpers the passkey pages share are written once (`scripts/passkey.js`)."""

from __future__ import annotations

import functools
from typing import Final

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from bot.core.invisible import visible

__all__ = ["PAGE_HEADERS", "environment", "page_templates", "render", "render_text"]

# the headers of every answer of the bot's pages to a person (sign-in, step-up, reveal, decide links): never kept,
# no referrer sent on, no content type guessed
PAGE_HEADERS: Final = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                       "X-Content-Type-Options": "nosniff"}


def environment(package: str = "bot", folder: str = "templates") -> Environment:
    """The one way the bot builds a jinja2 Environment (the pages', the report's): the templates in `package`'s
    `folder`, autoescape on for every template (HTML and scripts alike: nothing a context gives is ever markup unless
    marked `Markup`), `StrictUndefined` (a name the context lacks is an error, not an empty string)."""
    return Environment(
        loader=PackageLoader(package, folder),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=shown,
    )


def shown(value: object) -> object:
    """A value as a page shows it: text (not markup the code made) with its invisible characters visible."""
    return value if isinstance(value, Markup) or not isinstance(value, str) else visible(value)


@functools.cache
def page_templates() -> Environment:
    """The one Environment of the bot's pages (bot/templates/), built once."""
    return environment()


def render(name: str, /, **context: object) -> str:
    """The template `name` (a path under bot/templates/) rendered with `context`, every value escaped."""
    return page_templates().get_template(name).render(context)


@functools.cache
def _text_templates() -> Environment:
    """The plain-text templates' Environment (an e-mail's text/plain part: never read as markup, so not escaped)."""
    found = environment()
    found.autoescape = False
    return found


def render_text(name: str, /, **context: object) -> str:
    """The plain-text template `name` (`*.txt` only: an HTML template is always rendered escaped, by `render`)."""
    if not name.endswith(".txt"):
        raise ValueError(f"{name}: only a .txt template is rendered as plain text")
    return _text_templates().get_template(name).render(context)
