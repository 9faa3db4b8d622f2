"""Redis URLs: which name a Cluster, and the key prefix a Cluster needs. Pure."""

from __future__ import annotations


def is_cluster_url(url: str) -> bool:
    return url.startswith(("redis+cluster://", "rediss+cluster://"))


def cluster_prefix(prefix: str) -> str:
    """A key prefix that is a hash tag, so that all keys live in one slot (Lua steps touch several)."""
    return prefix if prefix.startswith("{") and prefix.endswith("}") else "{" + prefix.strip("{}") + "}"
