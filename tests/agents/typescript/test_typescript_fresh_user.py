"""A new TypeScript user's path works as the docs tell it: from a fresh `git clone`, the "From a clone" block of
docs/agents/typescript.md (`pip install -e ./agents -e . && python -m bot dev`, `npm install ./agents/typescript ai`,
`npx -y node@22 mailer.mts`) with the AI SDK page's complete program reaches its first approved tool call, leaving
nothing untracked in the clone (tests.support.fresh_user). Its time is the benchmark's to print
(tests/benchmarks/ts_first_call.py), not asserted here: npm installs from the registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.fresh_user import RAN, first_call

pytestmark = pytest.mark.slow  # git, npm, bot dev and node


@pytest.mark.timeout(900)
def test_a_fresh_clone_reaches_a_first_approved_ai_sdk_call_as_the_docs_say(tmp_path: Path) -> None:
    done = first_call(tmp_path)
    assert RAN in done.said and "Told Bob." in done.said, done.said
    assert 0 < done.cloned < done.installed < done.first_call
    package = tmp_path / "agent-approvals" / "agents" / "typescript"
    # the install built the package as it linked it (its prepare), with the adapter of the one framework beside it
    assert (package / "dist" / "src" / "adapters" / "ai-sdk.js").is_file()
    assert not (package / "dist" / "src" / "adapters" / "mastra.js").exists()
