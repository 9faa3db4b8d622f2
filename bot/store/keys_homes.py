"""The Home redraw queue's keys and the workspace's views.publish budget (bot/store/home_queue.py), part of `Keys`
(bot/store/keys.py lists them in its table)."""

from __future__ import annotations

from bot.store.key_names import Named


class HomeQueueKeys:
    """The Home queue's key names under `prefix` (a tenant's: `Keys` sets it)."""

    prefix: str
    root: str

    home_room = Named("homes:room")  # people whose Home's page shows fewer approvals than a page holds
    home_due = Named("homes:due")
    home_due_since = Named("homes:due_since")
    home_drawing = Named("homes:drawing")
    home_publishes = Named("homes:publishes")
    home_paused = Named("homes:paused")
