"""A paused run read back for `resume` (agents/agent_approvals/state.py): the text kept, or a versioned JSON object;
none kept is a LookupError, one of another format (or not an object) a ValueError, whatever the integration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from agent_approvals.state import FileStateStore, paused, paused_json


def test_a_paused_run_is_read_back_as_kept(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path)
    store.save("run-1", json.dumps({"version": 2, "messages": []}))
    assert paused(store, "run-1") == '{"version": 2, "messages": []}'
    assert paused_json(store, "run-1", version=2) == {"version": 2, "messages": []}


def test_none_kept_is_a_lookup_error_and_another_format_a_value_error(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path)
    with pytest.raises(LookupError, match="no paused run 'gone'"):
        paused(store, "gone")
    with pytest.raises(LookupError):
        paused_json(store, "gone", version=1)
    store.save("old", json.dumps({"version": 1}))
    with pytest.raises(ValueError, match=r"'old' was kept in another format \(version 1\)"):
        paused_json(store, "old", version=2)
    store.save("list", "[1, 2]")
    with pytest.raises(ValueError, match="another format"):
        paused_json(store, "list", version=1)
