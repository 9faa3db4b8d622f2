/**
 * What the TypeScript examples share (as examples/example_support.py for the Python ones): where they ask, where the
 * demo `send_email` writes, what they print.
 *
 * Each example asks the bot at AGENT_APPROVALS_URL with the API key AGENT_APPROVALS_KEY (APPROVALS_CHANNEL: the
 * channel to ask in, default the key's first). The demo `send_email` sends nothing: each email is a JSON file in
 * OUTBOX_DIR (default ./outbox). The model is the framework's own mock model, scripted: it emails the first address
 * in the task, then says what the tool answered (a rejected call reads as rejected, never as sent). Each card is
 * announced as soon as it is posted, with its link, and each decision as it happens, e.g.
 *
 *     waiting for approval in Slack: https://acme.slack.com/archives/C0123/p1714000000000100
 *     Slack: send_email approved by @bob [a-…]
 *
 * A bot that does not answer at AGENT_APPROVALS_URL, or refuses the key, is one line on standard error before
 * anything runs, and exit status 1.
 */

import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { ApprovalsClient, ApprovalsError, who, type Approval } from "agent-approvals";

export const SYSTEM = "You write short, polite emails and send them with send_email, one call per recipient. "
  + "Then say what you sent.";
export const DEFAULT_TASK = "Tell bob@example.com that our Q2 prices change on May 1";

export type Email = { to: string; body: string };

/** The call the scripted model makes: an email to the first address in `task`. */
export function scriptedEmail(task: string): Email {
  const to = /[\w.+-]+@[\w-]+\.[\w.]+/.exec(task)?.[0] ?? "someone@example.com";
  return { to, body: `Hello,\n\n${task}.\n\nBest regards` };
}

/** The demo `send_email`: the email as a JSON file in OUTBOX_DIR; what the tool tells the model. */
export function writeEmail(email: Email): string {
  const outbox = process.env["OUTBOX_DIR"] || "outbox";
  mkdirSync(outbox, { recursive: true });
  const name = `${randomUUID().replace(/-/g, "").slice(0, 12)}.json`;
  writeFileSync(join(outbox, name), JSON.stringify({ to: email.to, body: email.body }));
  return `sent to ${email.to}`;
}

/** What a scripted model says after its call, from what the tool answered: sent, or not run and why. */
export function finalWords(result: string): string {
  return result.startsWith("sent to ") ? `Sent the email (${result}).` : `Did not send the email. ${result}`;
}

/** The decision in words, as the Python client's `Approval.summary`: "approved by @bob", "rejected by @bob: …". */
export function summary(approval: Approval): string {
  if (approval.pending) return "pending";
  const reason = approval.reason ?? "";
  if (approval.status === "timed_out") {
    return `timed out: ${approval.approved ? "approved" : "rejected"} (${reason || "nobody decided in time"})`;
  }
  if (approval.status === "cancelled") return `cancelled (${reason || "withdrawn"})`;
  const said = approval.status === "revised" ? approval.feedback ?? "" : reason;
  const by = who(approval) || "a reviewer";
  const atOnce = by.startsWith("rule ") || ["auto", "policy"].includes(approval.decidedBy ?? "");
  const rule = by.startsWith("rule ") ? `"always allow" ${by}` : by;
  const line = `${approval.status === "revised" ? "revision asked" : approval.status} by ${rule}`;
  return said ? line + (atOnce ? ` (${said})` : `: ${said}`) : line;
}

/** A decision as the examples print it: what was asked, who decided and why, the approval's id. */
export const decisionLine = (approval: Approval): string =>
  `Slack: ${approval.tool || "the human's turn"} ${summary(approval)} [${approval.id}]`;

/** Where a card waits: its link (the approval's id when the bot does not know its workspace's URL). */
export const waitingLine = (approval: Approval): string =>
  `waiting for approval in Slack: ${approval.cardUrl || `approval ${approval.id}`}`;

/** The client of the bot's Approvals API, titling cards with the example and its task; it prints where each card
 * waits and each decision as it happens. */
export function approvalsClient(example: string, task: string): ApprovalsClient {
  const channel = process.env["APPROVALS_CHANNEL"];
  return new ApprovalsClient({
    title: `examples/typescript/${example}: ${task}`.slice(0, 150),
    ...(channel ? { channel } : {}),
    onWaiting: (approval) => console.log(waitingLine(approval)),
    onDecided: (approval) => console.log(decisionLine(approval)),
  });
}

/** The client's error under `error`, as a framework may wrap it (its cause, an aggregate). */
function approvalsError(error: unknown, seen = new Set<unknown>()): ApprovalsError | undefined {
  if (error instanceof ApprovalsError) return error;
  if (typeof error !== "object" || error === null || seen.has(error)) return undefined;
  seen.add(error);
  const inner = [(error as { cause?: unknown }).cause, ...((error as { errors?: unknown[] }).errors ?? [])];
  for (const found of inner) {
    const under = approvalsError(found, seen);
    if (under) return under;
  }
  return undefined;
}

/** Why the example cannot ask (settings missing, the bot unreachable, the key refused), in one line; else "". */
async function botProblem(): Promise<string> {
  const missing = ["AGENT_APPROVALS_URL", "AGENT_APPROVALS_KEY"].filter((name) => !process.env[name]);
  if (missing.length) return `set ${missing.join(" and ")} (python -m bot dev prints both)`;
  try {
    await new ApprovalsClient().check();
  } catch (error) {
    if (error instanceof ApprovalsError) return error.message;
    throw error;
  }
  return "";
}

/** `node --preserve-symlinks dist/<example>.js [task…]`: the agent's last words; a bot that cannot be asked (before, or as it runs)
 * is one line on standard error and exit status 1, never a stack trace. */
export async function runCli(example: string, main: (task: string) => Promise<string>): Promise<void> {
  const task = process.argv.slice(2).join(" ") || DEFAULT_TASK;
  const problem = await botProblem();
  if (problem) {
    console.error(`${example}: ${problem}`);
    process.exit(1);
  }
  let said: string;
  try {
    said = await main(task);
  } catch (error) {
    const found = approvalsError(error);
    if (found === undefined) throw error;
    console.error(`${example}: ${found.message}`);
    process.exit(1);
  }
  console.log(said);
}
