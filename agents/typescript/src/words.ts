/**
 * A decision in words, as the bot says them (`who`, `refusal` in every approval it answers; Python's client prints
 * the same, and shared vectors keep them alike): who decided, and what an agent's model reads when its call does not
 * run. Nothing here composes them: an older bot that sends none gets the least, "Not run: <status>".
 */

import type { Approval } from "./client.js";

/** Who decided, in words, as the bot says it: "@bob", "rule R1", "the input mode", "timeout", "the bot"; "" while
 * nobody has (or from an older bot). */
export function who(approval: Approval): string {
  return approval.who ?? "";
}

/**
 * What an agent's model reads when its call does not run on `approval`, as the bot says it: who refused it and why,
 * that nobody decided in time, that it was cancelled, or the revision asked for (quoting edited arguments, so the
 * model may call again with them: that call is asked about again).
 */
export function refusal(approval: Approval): string {
  if (approval.refusal) return approval.refusal;
  const said = approval.status === "revised" ? "" : (approval.reason ?? "").trim();
  return `Not run: ${approval.status}${said ? ` (${said})` : ""}`;
}
