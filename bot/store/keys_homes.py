"""The Home redraw queue's keys and the workspace's views.publish budget (bot/store/home_queue.py), part of `Keys`
(bot/store/keys.py lists them in its table)."""

from __future__ import annotations


class HomeQueueKeys:
    """The Home queue's key names under `prefix` (a tenant's: `Keys` sets it)."""

    prefix: str

    @property
    def home_room(self) -> str:
        """People whose Home's page shows fewer approvals than a page holds (a new one would show)."""
        return f"{self.prefix}:homes:room"

    @property
    def home_due(self) -> str:
        return f"{self.prefix}:homes:due"

    @property
    def home_due_since(self) -> str:
        return f"{self.prefix}:homes:due_since"

    @property
    def home_drawing(self) -> str:
        return f"{self.prefix}:homes:drawing"

    @property
    def home_publishes(self) -> str:
        return f"{self.prefix}:homes:publishes"

    @property
    def home_paused(self) -> str:
        return f"{self.prefix}:homes:paused"
