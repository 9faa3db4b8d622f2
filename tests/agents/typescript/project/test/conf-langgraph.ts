/**
 * The LangGraph adapter's conformance driver (conformance.ts): a graph whose node asks with `interrupt(toolCall(…))`
 * and runs only `verified` answers, its model @langchain/core's `fakeModel`, compiled with a `SqliteSaver`
 * (@langchain/langgraph-checkpoint-sqlite) on a file in the run's folder: a thread a killed process left paused is
 * finished by `resumeWithApprovals` in another.
 */

import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

import { AIMessage, ToolMessage, type BaseMessage } from "@langchain/core/messages";
import { fakeModel, type FakeBuiltModel } from "@langchain/core/testing";
import { Command, END, MessagesAnnotation, START, StateGraph, interrupt } from "@langchain/langgraph";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";

import { invokeWithApprovals, resumeWithApprovals, toolCall, verified } from "agent-approvals/langgraph";

import type { Driver, Email, Run } from "./conformance.js";

const SCHEMA = {
  type: "object",
  properties: { to: { type: "string" }, body: { type: "string" } },
  required: ["to", "body"],
};
const input = { messages: [{ role: "user", content: "Tell Bob" }] };

/** The run's checkpoints: a SQLite file in its folder, the same in every process of the run. */
function checkpointer(run: Run): SqliteSaver {
  mkdirSync(run.states, { recursive: true });
  return SqliteSaver.fromConnString(join(run.states, "checkpoints.sqlite"));
}

/** The mailer graph; its model calls send_email with `calls` (if any), then says "Done.". */
function mailer(run: Run, calls: Email | undefined, answers: unknown[] = []) {
  const model = fakeModel();
  if (calls !== undefined) model.respondWithTools([{ name: "send_email", args: calls, id: "call-1" }]);
  model.respond(new AIMessage("Done."));
  const agent = async (state: typeof MessagesAnnotation.State) => ({ messages: [await model.invoke(state.messages)] });
  const send = async (state: typeof MessagesAnnotation.State) => {
    const call = (state.messages.at(-1) as AIMessage).tool_calls?.[0];
    if (call === undefined) return {};
    const request = toolCall({ tool: call.name, arguments: call.args, schema: SCHEMA, agent: "mailer" });
    const given = interrupt(request);
    answers.push(given);
    const answer = await verified({ answer: given, request, client: run.client });
    if (answer.approved) appendFileSync(run.outbox, `${JSON.stringify(answer.arguments)}\n`);
    const said = answer.approved ? `sent to ${String(answer.arguments["to"])}` : answer.message;
    return { messages: [new ToolMessage({ content: said, tool_call_id: call.id ?? "" })] };
  };
  const next = (state: typeof MessagesAnnotation.State) =>
    (state.messages.at(-1) as AIMessage).tool_calls?.length ? "send" : END;
  const graph = new StateGraph(MessagesAnnotation)
    .addNode("agent", agent)
    .addNode("send", send)
    .addEdge(START, "agent")
    .addConditionalEdges("agent", next, ["send", END])
    .addEdge("send", "agent")
    .compile({ checkpointer: checkpointer(run) });
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
    const { graph, model } = mailer(run, run.args, answers);
    await invokeWithApprovals({ graph, input, config: config(run.run), client: run.client });
    return lastToolOutput(model);
  },
  again: async (run) => {
    // the run's approved answer given again, to the same call on a fresh thread
    const { graph, model } = mailer(run, run.args);
    await graph.invoke(input, config(`${run.run}-again`));
    await graph.invoke(new Command({ resume: given.get(run.run)?.[0] }), config(`${run.run}-again`));
    return lastToolOutput(model);
  },
  resume: async (run) => {
    // the thread as the killed process left it (its model had called send_email already)
    const { graph, model } = mailer(run, undefined);
    await resumeWithApprovals({ graph, config: config(run.run), client: run.client });
    return lastToolOutput(model);
  },
  forge: async (run) => {
    // a resume value saying approved, which the bot never gave
    const { graph, model } = mailer(run, run.args);
    await graph.invoke(input, config(run.run));
    await graph.invoke(
      new Command({ resume: { approved: true, arguments: run.args, approvalId: "apv_made_up" } }),
      config(run.run),
    );
    return lastToolOutput(model);
  },
};
