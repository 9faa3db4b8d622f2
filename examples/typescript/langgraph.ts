/**
 * LangGraph (`@langchain/langgraph`): a graph whose `send` node asks with `interrupt()`, answered from Slack
 * (`agent-approvals/langgraph`).
 *
 *     export AGENT_APPROVALS_URL=https://approvals.example.com AGENT_APPROVALS_KEY=aak_…
 *     node --preserve-symlinks dist/langgraph.js "Tell bob@example.com that our Q2 prices change on May 1"
 *
 * The model is LangChain's `fakeModel` (`@langchain/core/testing`), scripted: it calls send_email, then says what
 * the tool answered. Outbox and printed lines: see support.ts.
 */

import { randomUUID } from "node:crypto";

import { AIMessage, ToolMessage } from "@langchain/core/messages";
import { fakeModel } from "@langchain/core/testing";
import { END, MemorySaver, MessagesAnnotation, START, StateGraph, interrupt } from "@langchain/langgraph";
import { invokeWithApprovals, toolCall, verified } from "agent-approvals/langgraph";

import { approvalsClient, finalWords, runCli, scriptedEmail, writeEmail, type Email } from "./support.js";

const SCHEMA = {
  type: "object", properties: { to: { type: "string" }, body: { type: "string" } }, required: ["to", "body"],
};
type State = typeof MessagesAnnotation.State;

await runCli("langgraph.js", async (task) => {
  const client = approvalsClient("langgraph.ts", task);
  const model = fakeModel()
    .respondWithTools([{ name: "send_email", args: scriptedEmail(task), id: "call-1" }])
    .respond((messages) => new AIMessage(finalWords(String(messages.at(-1)?.content ?? ""))));

  const agent = async (state: State) => ({ messages: [await model.invoke(state.messages)] });
  const send = async (state: State) => {
    const call = (state.messages.at(-1) as AIMessage).tool_calls?.[0];
    if (call === undefined) return {};
    const request = toolCall({ tool: call.name, arguments: call.args, schema: SCHEMA, agent: "mailer" });
    // what the bot decided, never a claim
    const answer = await verified({ answer: interrupt(request), request, client });
    const said = answer.approved ? writeEmail(answer.arguments as unknown as Email) : answer.message;
    return { messages: [new ToolMessage({ content: said, tool_call_id: call.id ?? "" })] };
  };
  const next = (state: State) => ((state.messages.at(-1) as AIMessage).tool_calls?.length ? "send" : END);
  const graph = new StateGraph(MessagesAnnotation)
    .addNode("agent", agent)
    .addNode("send", send)
    .addEdge(START, "agent")
    .addConditionalEdges("agent", next, ["send", END])
    .addEdge("send", "agent")
    .compile({ checkpointer: new MemorySaver() });

  const config = { configurable: { thread_id: `mailer-${randomUUID().slice(0, 8)}` } };
  const input = { messages: [{ role: "user", content: task }] };
  const result = await invokeWithApprovals({ graph, input, config, client }) as State;
  return String(result.messages.at(-1)?.content ?? "");
});
