"""Local stand-in for Slack, for development and tests only (never imported by production code)."""

from __future__ import annotations

from bot.devslack.server import DeliveryResult, DevChannel, DevUser, RecordedCall, SlackStandIn

__all__ = ["DeliveryResult", "DevChannel", "DevUser", "RecordedCall", "SlackStandIn"]
