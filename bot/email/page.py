"""The page a Review-and-decide link opens (issue 88): the signed links' page (bot/links/page.py, shared with the
push surface since issue 90) at `/email/{approval}/{nonce}.{mac}`: a GET shows, only a POST with its CSRF token
decides, once."""

from __future__ import annotations

from bot.links.page import DONE, HEADERS, RETRYABLE, SAID, VERBS, Answer, Decide, Load, Refusals, Seen, Who
from bot.links.page import add_link_routes as add_email_routes

__all__ = ["DONE", "HEADERS", "RETRYABLE", "SAID", "VERBS", "Answer", "Decide", "Load", "Refusals", "Seen", "Who",
           "add_email_routes"]
