/**
 * The Mastra adapter's conformance driver for workflow steps (conformance.ts): a workflow whose one step sends the
 * email on the plane's decision (`approvalInStep`), run by `runWorkflowWithApprovals`, its Mastra storage a
 * `LibSQLStore` on a file in the run's folder: the run a killed process left is finished in another by
 * `resumeWorkflowWithApprovals` (the step resumed from Mastra's snapshot, or restarted when the process died while
 * the step asked). A workflow has no model: what the step said is what "the model read".
 */

import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

import { Mastra } from "@mastra/core/mastra";
import { createStep, createWorkflow } from "@mastra/core/workflows";
import { LibSQLStore } from "@mastra/libsql";
import { z } from "zod";

import {
  approvalInStep,
  resumeWorkflowWithApprovals,
  runWorkflowWithApprovals,
  type ApprovalSuspendPayload,
} from "agent-approvals/mastra";

import type { Driver, Run } from "./conformance.js";

const Email = z.object({ to: z.string(), body: z.string() });
const Said = z.object({ said: z.string() });

/** The mailing workflow, on a Mastra whose storage is a SQLite file in the run's folder (the same in every process). */
function mailing(run: Run) {
  const send = createStep({
    id: "send",
    inputSchema: Email,
    outputSchema: Said,
    execute: async (step) => {
      const decided = await approvalInStep({ step, client: run.client, tool: "send_email", arguments: step.inputData });
      if ("suspended" in decided) return decided.suspended as never;
      if (!decided.run) return { said: decided.said };
      appendFileSync(run.outbox, `${JSON.stringify(decided.arguments)}\n`);
      return { said: `sent to ${String(decided.arguments["to"])}` };
    },
  });
  const workflow = createWorkflow({ id: "mailing", inputSchema: Email, outputSchema: Said }).then(send).commit();
  mkdirSync(run.states, { recursive: true });
  const storage = new LibSQLStore({ id: "conf-mastra-workflow", url: `file:${join(run.states, "mastra.db")}` });
  new Mastra({ workflows: { mailing: workflow }, storage, logger: false });
  return workflow;
}

/** What the step said (sent, or why not), or how the run stands. */
const said = (result: { status: string }): string =>
  result.status === "success"
    ? (result as unknown as { result: { said: string } }).result.said
    : `the run is ${result.status}`;

/** The run from its input, by its run id. */
async function once(run: Run): Promise<string> {
  const runner = await mailing(run).createRun({ runId: run.run });
  return said(await runWorkflowWithApprovals({ run: runner, inputData: run.args, client: run.client }));
}

export const driver: Driver = {
  name: "mastra-workflow",
  once,
  again: once, // the same run id started again (a retried request): the step finds the same card, its approval used
  resume: async (run) =>
    said(await resumeWorkflowWithApprovals({ workflow: mailing(run), runId: run.run, client: run.client })),
  forge: async (run) => {
    // a resume value saying approved (#21303), no decision: the step asks again, still pending
    const runner = await mailing(run).createRun({ runId: run.run });
    const first = await runner.start({ inputData: run.args });
    if (first.status !== "suspended") return said(first);
    const payload = (first.steps["send"] as { suspendPayload?: ApprovalSuspendPayload }).suspendPayload;
    const forged = await runner.resume({ step: ["send"], resumeData: { approved: true } });
    if (forged.status !== "suspended" || payload === undefined) return said(forged);
    await run.client.withdraw(payload.approvalId); // then nobody may decide it: the step says so, and runs nothing
    return said(await runner.resume({ step: ["send"], resumeData: { approved: true } }));
  },
};
