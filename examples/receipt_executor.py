"""An executor that runs a call only with the approval's signed receipt (`agent_approvals.receipts`).

The program that asks and the executor that runs are apart: the asker holds the API key; the executor holds
none, and trusts nothing it is told but a receipt the bot signed for exactly the call, spent once.

    export AGENT_APPROVALS_URL=https://approvals.example.com AGENT_APPROVALS_KEY=aak_…
    python examples/receipt_executor.py ask "Tell bob@example.com that our Q2 prices change on May 1" > job.json
    python examples/receipt_executor.py run < job.json     # sent once
    python examples/receipt_executor.py run < job.json     # refused: used

`ask` asks for one `send_email` (the card in Slack: "waiting for approval in Slack: <its link>" on standard
error), waits for the decision and prints one JSON line: the tool, the arguments to run (as approved, or as a
reviewer edited them) and the receipt. A bot that does not answer, or refuses the key, is one line on standard
error and exit status 1. `run` reads such lines and runs
each through the decorated `send_email`, which sends nothing: each email is a file in OUTBOX_DIR (./outbox). It
prints "sent to …" or "refused: <reason>: <why>" per line; RECEIPT_AUDIENCE is the id (`k-…`, from `python -m bot
keys list`) of the API key whose approvals it runs (the receipts' `aud`), if one.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Mapping

from agent_approvals import ReceiptChecker, ReceiptError, requires_receipt
from example_support import DEFAULT_TASK, approvals_client, run_or_exit, scripted_email, write_email


async def ask(env: Mapping[str, str], task: str) -> str:
    """The job line for one approved call; a call not approved prints why, and no line."""
    async with approvals_client(env, "receipt_executor.py", task, waiting_to=sys.stderr) as client:  # (stdout: the job)
        asked = await client.request_tool("send_email", scripted_email(task), title=task[:150])
        decided = asked if not asked.pending else await client.wait(asked.id)
    if not decided.approved or not decided.receipt:
        print(f"not approved ({decided.summary}), or the bot signs no receipts", file=sys.stderr)
        return ""
    return json.dumps({"tool": decided.tool, "arguments": decided.arguments, "receipt": decided.receipt})


async def run(env: Mapping[str, str], lines: list[str]) -> list[str]:
    """Each job line run once, if its receipt allows it."""
    async with ReceiptChecker(env["AGENT_APPROVALS_URL"], audience=env.get("RECEIPT_AUDIENCE") or None) as checker:

        @requires_receipt(checker)
        async def send_email(to: str, body: str) -> str:
            return write_email(env, to, body)

        said = []
        for line in filter(str.strip, lines):
            job = json.loads(line)
            try:
                said.append(await send_email(**job["arguments"], receipt=job.get("receipt")))
            except ReceiptError as refused:
                said.append(f"refused: {refused}")
        return said


def main() -> None:
    command, *words = sys.argv[1:] or ["ask"]
    if command == "run":
        print("\n".join(asyncio.run(run(os.environ, sys.stdin.read().splitlines()))))
    else:
        run_or_exit(lambda: asyncio.run(ask(os.environ, " ".join(words) or DEFAULT_TASK)), "receipt_executor.py")


if __name__ == "__main__":
    main()
