"""A new TypeScript user's first approved AI SDK tool call, timed from `git clone` (tests.support.fresh_user): what
docs/agents/typescript.md's "From a clone" block says, in a temporary folder, the card approved in dev's local Slack.
The issue's goal: under 3 minutes. npm installs from its configured registry (a mirror here), so the figure is that
registry's as much as the package's. Prints each step's end, in seconds from the clone's start (JSON with --out).

    python tests/benchmarks/ts_first_call.py [--out FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.common import machine_info, write_json
from tests.support.fresh_user import first_call


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ts-first-call-") as folder:
        timings = first_call(Path(folder))
    result = {"benchmark": "ts_first_call", "machine": machine_info(),
              **{k: v for k, v in dataclasses.asdict(timings).items() if k != "said"}}
    print(json.dumps(result, indent=2))
    print(f"from git clone to the first approved AI SDK tool call: {timings.first_call:.1f} s (goal: under 180 s;"
          f" cloned {timings.cloned:.1f} s, installed {timings.installed:.1f} s, bot ready {timings.bot_ready:.1f} s,"
          f" card approved {timings.card:.1f} s)")
    write_json(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
