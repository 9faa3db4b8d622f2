/**
 * A decision in words, the one wording of every integration (`agent_approvals.approver.refusal` and `Decision.who`
 * in Python; shared vectors keep them alike): who decided, and what an agent's model reads when its call does not run.
 */

import type { Approval } from "./client.js";

/** Python's `json.dumps` of JSON values (", " and ": " between items, non-ASCII as \uXXXX), for the same words. */
function pythonJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(", ")}]`;
  if (typeof value === "object" && value !== null) {
    return `{${Object.entries(value).map(([k, v]) => `${pythonJson(k)}: ${pythonJson(v)}`).join(", ")}}`;
  }
  const said = JSON.stringify(value) ?? "null";
  return said.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/**
 * Who decided, in words: "@bob" (the reviewer's name; their user id while the API sends no name), "rule R1", "the
 * input mode", "timeout", "the bot"; "" while nobody has.
 */
export function who(approval: Approval): string {
  const by = approval.decidedBy ?? "";
  const [kind, ...rest] = by.split(" ");
  const rule = rest.join(" ").trim();
  if (kind === "rule" && rule) return `rule ${rule}`;
  if (by === "auto") return "the input mode";
  if (by === "timeout" || (approval.status === "timed_out" && !by)) return "timeout";
  if (by === "system") return "the bot";
  const name = (approval.decidedByName ?? "").trim().replace(/^@+/, "");
  return name ? `@${name}` : by;
}

/**
 * What an agent's model reads when its call does not run on `approval`: who refused it and why, that nobody decided
 * in time, that it was cancelled, or the revision asked for (quoting edited arguments, so the model may call again
 * with them: that call is asked about again).
 */
export function refusal(approval: Approval): string {
  const by = who(approval) || "a reviewer";
  const said = (approval.status === "revised" ? approval.feedback ?? "" : approval.reason ?? "").trim();
  if (approval.status === "timed_out") return `Not run: nobody decided in time (${said || "timed out"}).`;
  if (approval.status === "cancelled" || approval.status === "pending") {
    return `Not run: cancelled (${said || "cancelled"}).`;
  }
  if (approval.status === "revised") {
    const edit = approval.edited ? ` Edited arguments to use instead: ${pythonJson(approval.arguments)}.` : "";
    return `Not run: ${by} asked for a revision.${said ? ` ${said}` : ""}${edit}`;
  }
  return `Not run: rejected by ${by}: ${said || "no reason given"}`;
}
