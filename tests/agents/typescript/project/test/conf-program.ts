/**
 * An adapter's conformance driver as a program: `node conf-program.js <adapter> once|resume <title> <outbox> <run>
 * <states>` runs the agent once (the process the test kills while its card waits) or finishes that run; it says
 * "waiting <id>" and "decided <id> <status>" as its client sees them.
 */

import { ApprovalsClient } from "agent-approvals";

import type { Driver, Run } from "./conformance.js";
import { EMAIL } from "./conformance.js";

const [adapter, mode, title, outbox, run, states] = process.argv.slice(2);
if (!adapter || !mode || !title || !outbox || !run || !states) {
  throw new Error("usage: conf-program.js adapter mode ...");
}
const { driver } = (await import(`./conf-${adapter}.js`)) as { driver: Driver };
const client = new ApprovalsClient({
  title,
  onWaiting: (a) => process.stdout.write(`waiting ${a.id}\n`),
  onDecided: (a) => process.stdout.write(`decided ${a.id} ${a.status}\n`),
});
const given: Run = { client, title, args: EMAIL, outbox, run, states };
const told = mode === "resume" ? await driver.resume(given) : await driver.once(given);
process.stdout.write(`told ${told}\n`);
