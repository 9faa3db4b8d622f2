/**
 * The LangGraph adapter's conformance driver (conformance.ts): a graph whose node asks with `interrupt(toolCall(…))`
 * and runs only `verified` answers, its model @langchain/core's `fakeModel`, compiled with a `MemorySaver`.
 */

import { appendFileSync } from "node:fs";

import { AIMessage, ToolMessage, type BaseMessage } from "@langchain/core/messages";
import { fakeModel, type FakeBuiltModel } from "@langchain/core/testing";
import { Command, END, MemorySaver, MessagesAnnotation, START, StateGraph, interrupt } from "@langchain/langgraph";

import type { ApprovalsClient } from "agent-approvals";
import { invokeWithApprovals, toolCall, verified } from "agent-approvals/langgraph";

import type { Driver, Email } from "./conformance.js";

const SCHEMA = {
  type: "object", properties: { to: { type: "string" }, body: { type: "string" } }, required: ["to", "body"],
};
const input = { messages: [{ role: "user", content: "Tell Bob" }] };

function mailer(client: ApprovalsClient, args: Email, outbox: string, answers: unknown[]) {
  const model = fakeModel().respondWithTools([{ name: "send_email", args, id: "call-1" }]).respond(
    new AIMessage("Done."));
  const agent = async (state: typeof MessagesAnnotation.State) => ({ messages: [await model.invoke(state.messages)] });
  const send = async (state: typeof MessagesAnnotation.State) => {
    const call = (state.messages.at(-1) as AIMessage).tool_calls?.[0];
    if (call === undefined) return {};
    const request = toolCall(call.name, call.args, { schema: SCHEMA, agent: "mailer" });
    const given = interrupt(request);
    answers.push(given);
    const answer = await verified(given, request, { client });
    if (answer.approved) appendFileSync(outbox, `${JSON.stringify(answer.arguments)}\n`);
    const said = answer.approved ? `sent to ${String(answer.arguments["to"])}` : answer.message;
    return { messages: [new ToolMessage({ content: said, tool_call_id: call.id ?? "" })] };
  };
  const next = (state: typeof MessagesAnnotation.State) =>
    ((state.messages.at(-1) as AIMessage).tool_calls?.length ? "send" : END);
  const graph = new StateGraph(MessagesAnnotation).addNode("agent", agent).addNode("send", send)
    .addEdge(START, "agent").addConditionalEdges("agent", next, ["send", END]).addEdge("send", "agent")
    .compile({ checkpointer: new MemorySaver() });
  return { graph, model };
}

function lastToolOutput(model: FakeBuiltModel): string {
  const messages: BaseMessage[] = model.calls.at(-1)?.messages ?? [];
  return String(messages.filter((m) => m.getType() === "tool").at(-1)?.content ?? "");
}

const config = (thread: string) => ({ configurable: { thread_id: thread } });
/** The answers each run's node was given, by run: a retry replays them. */
const given = new Map<string, unknown[]>();

export const driver: Driver = {
  name: "langgraph",
  once: async (run) => {
    const answers: unknown[] = [];
    given.set(run.run, answers);
    const { graph, model } = mailer(run.client, run.args, run.outbox, answers);
    await invokeWithApprovals(graph, input, config(run.run), { client: run.client });
    return lastToolOutput(model);
  },
  again: async (run) => { // the run's approved answer given again, to the same call on a fresh thread
    const { graph, model } = mailer(run.client, run.args, run.outbox, []);
    await graph.invoke(input, config(`${run.run}-again`));
    await graph.invoke(new Command({ resume: given.get(run.run)?.[0] }), config(`${run.run}-again`));
    return lastToolOutput(model);
  },
  resume: async () => {
    throw new Error("unsupported: a MemorySaver's thread does not outlive its process");
  },
  forge: async (run) => { // a resume value saying approved, which the bot never gave
    const { graph, model } = mailer(run.client, run.args, run.outbox, []);
    await graph.invoke(input, config(run.run));
    await graph.invoke(new Command({ resume: { approved: true, arguments: run.args, approvalId: "apv_made_up" } }),
      config(run.run));
    return lastToolOutput(model);
  },
  unsupported: {
    killed: "a MemorySaver keeps the paused thread in the process (no file-backed checkpointer offline): with a"
      + " durable checkpointer, resumeWithApprovals finishes it on the same card (langgraph.test.ts, in one process)",
  },
};
