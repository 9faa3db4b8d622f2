// One series of tests/benchmarks/ts_adapters.py: `node ts_adapters.mjs SERIES N WARMUP`, run where `agent-approvals`
// and the frameworks resolve (the Python side lays out node_modules), asking the bot at AGENT_APPROVALS_URL with
// AGENT_APPROVALS_KEY, whose "always allow" rule approves send_email(EMAIL) at once. Prints {"seconds": [...]}: per
// approval, from the mock model handing over its tool call (for `client`: from the ask) to the tool running.
//   client             client.toolDecision({ tool: "send_email", arguments: EMAIL }): the floor
//   <adapter>:gated    the adapter's run, the tool needing approval (ai-sdk, mastra, openai-agents, langgraph)
//   <adapter>:ungated  the same agent, its tool needing none (what the framework costs between call and tool)
//   <adapter>:native   the same agent, its tool needing the framework's own approval, approved by the program at once
//                      (no bot): the AI SDK's `needsApproval` request answered with an approved response, OpenAI
//                      Agents' interruption `state.approve`d, LangGraph's `interrupt` resumed by `Command`, Mastra's
//                      suspended call `approveToolCallGenerate`d; timed as the others

import { ApprovalsClient } from "agent-approvals";

const EMAIL = { to: "bob@example.com", body: "Prices go up 5% on May 1." };
const [series, count, warmup] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4] ?? 3)];
const [adapter, mode] = series.split(":");
const gated = mode === "gated";
const native = mode === "native";
const client = new ApprovalsClient({ title: "benchmark", agent: "bench" });
const mark = { called: 0, ran: 0 };
const called = () => { mark.called = performance.now(); };
const ran = () => { mark.ran = performance.now(); return "sent to bob@example.com"; };
const usage = { inputTokens: { total: 1, noCache: 1, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 1, text: 1, reasoning: undefined } };

/** An AI SDK mock model's doGenerate: the call of send_email (timed), then "Sent.". */
function aiSteps() {
  let at = 0;
  return async () => {
    at += 1;
    if (at === 1) {
      called();
      return { content: [{ type: "tool-call", toolCallId: "call-1", toolName: "send_email",
        input: JSON.stringify(EMAIL) }], finishReason: { unified: "tool-calls", raw: "tool_calls" }, usage, warnings: [] };
    }
    return { content: [{ type: "text", text: "Sent." }], finishReason: { unified: "stop", raw: "stop" }, usage,
      warnings: [] };
  };
}

async function setUp() {
  if (adapter === "client") {
    return async () => {
      called();
      const decided = await client.toolDecision({ tool: "send_email", arguments: EMAIL });
      if (!decided.approved) throw new Error(`not approved: ${decided.status}`);
      ran();
    };
  }
  if (adapter === "ai-sdk") {
    const { generateText, isStepCount, jsonSchema, tool } = await import("ai");
    const { MockLanguageModelV4 } = await import("ai/test");
    const { generateTextWithApprovals } = await import("agent-approvals/ai-sdk");
    const send_email = tool({ description: "Send an email.", inputSchema: jsonSchema({ type: "object",
      properties: { to: { type: "string" }, body: { type: "string" } }, required: ["to", "body"] }), execute: ran,
      ...(native ? { needsApproval: true } : {}) });
    return async () => {
      const options = { model: new MockLanguageModelV4({ doGenerate: aiSteps() }), tools: { send_email },
        prompt: "Tell Bob", stopWhen: isStepCount(5) };
      if (!native) {
        await (gated ? generateTextWithApprovals({ ...options, approvals: { client } }) : generateText(options));
        return;
      }
      const { prompt, ...rest } = options;
      const messages = [{ role: "user", content: prompt }];
      const first = await generateText({ ...rest, messages });
      messages.push(...first.responseMessages);
      const requests = first.responseMessages.flatMap((m) => (m.role === "assistant" && typeof m.content !== "string"
        ? m.content.filter((part) => part.type === "tool-approval-request") : []));
      if (requests.length !== 1) throw new Error(`ai-sdk:native: ${requests.length} approval requests`);
      messages.push({ role: "tool", content: [{ type: "tool-approval-response", approvalId: requests[0].approvalId,
        approved: true }] });
      await generateText({ ...rest, messages });
    };
  }
  if (adapter === "mastra") {
    const { Agent } = await import("@mastra/core/agent");
    const { Mastra } = await import("@mastra/core/mastra");
    const { InMemoryStore } = await import("@mastra/core/storage");
    const { createTool } = await import("@mastra/core/tools");
    const { MockLanguageModelV3 } = await import("ai/test");
    const { z } = await import("zod");
    const { approvalsHooks, runWithApprovals } = await import("agent-approvals/mastra");
    const tools = { send_email: createTool({ id: "send_email", description: "Send an email.",
      inputSchema: z.object({ to: z.string(), body: z.string() }), requireApproval: gated || native, execute: ran }) };
    return async () => {
      const agent = new Agent({ id: "mailer", name: "mailer", instructions: "You send emails.", tools,
        model: new MockLanguageModelV3({ doGenerate: aiSteps() }),
        ...(gated ? { hooks: approvalsHooks({ client, tools }) } : {}) });
      new Mastra({ agents: { mailer: agent }, storage: new InMemoryStore(), logger: false });
      if (!native) {
        await (gated ? runWithApprovals({ agent, messages: "Tell Bob", approvals: { client } })
          : agent.generate("Tell Bob"));
        return;
      }
      const first = await agent.generate("Tell Bob");
      const toolCallId = first.suspendPayload?.toolCallId;
      if (first.finishReason !== "suspended" || typeof toolCallId !== "string") {
        throw new Error(`mastra:native: not suspended on the call (${first.finishReason})`);
      }
      await agent.approveToolCallGenerate({ runId: first.runId, toolCallId });
    };
  }
  if (adapter === "openai-agents") {
    const { Agent, run, setTracingDisabled, tool } = await import("@openai/agents");
    const { ScriptedModel, assistantMessage, functionCall, modelResponder } = await import("@openai/agents/testing");
    const { z } = await import("zod");
    const { runWithApprovals } = await import("agent-approvals/openai-agents");
    setTracingDisabled(true);
    const send_email = tool({ name: "send_email", description: "Send an email.", needsApproval: gated || native,
      parameters: z.object({ to: z.string(), body: z.string() }), execute: ran });
    return async () => {
      const model = new ScriptedModel([
        modelResponder(() => { called(); return [functionCall("send_email", EMAIL, { callId: "call-1" })]; }),
        [assistantMessage("Sent.")],
      ]);
      const agent = new Agent({ name: "mailer", instructions: "You send emails.", model, tools: [send_email] });
      if (!native) {
        await (gated ? runWithApprovals({ agent, input: "Tell Bob", client }) : run(agent, "Tell Bob"));
        return;
      }
      let result = await run(agent, "Tell Bob");
      while (result.interruptions.length > 0) {
        for (const item of result.interruptions) result.state.approve(item);
        result = await run(agent, result.state);
      }
    };
  }
  if (adapter === "langgraph") {
    const { Command, END, MemorySaver, START, StateGraph, Annotation, interrupt } = await import("@langchain/langgraph");
    const { invokeWithApprovals, toolCall, verified } = await import("agent-approvals/langgraph");
    const State = Annotation.Root({ outcome: Annotation });
    const send = async () => {
      if (native) {
        if (mark.called === 0) called(); // (the node runs again from its start on resume)
        const answer = interrupt({ tool: "send_email", arguments: EMAIL });
        if (answer?.approved !== true) throw new Error("langgraph:native: not approved");
        return { outcome: ran() };
      }
      if (!gated) {
        called();
        return { outcome: ran() };
      }
      const request = toolCall({ tool: "send_email", arguments: EMAIL });
      if (mark.called === 0) called(); // (the node runs again from its start on resume)
      const answer = await verified({ answer: interrupt(request), request, client });
      if (!answer.approved) throw new Error(answer.message);
      return { outcome: ran() };
    };
    const graph = new StateGraph(State).addNode("send", send).addEdge(START, "send").addEdge("send", END)
      .compile({ checkpointer: new MemorySaver() });
    let thread = 0;
    return async () => {
      thread += 1;
      const config = { configurable: { thread_id: `bench-${process.pid}-${thread}` } };
      if (!native) {
        await (gated ? invokeWithApprovals({ graph, input: {}, config, client }) : graph.invoke({}, config));
        return;
      }
      let result = await graph.invoke({}, config);
      while (Array.isArray(result?.__interrupt__) && result.__interrupt__.length > 0) {
        const resume = Object.fromEntries(result.__interrupt__.map((item) => [item.id, { approved: true }]));
        result = await graph.invoke(new Command({ resume }), config);
      }
    };
  }
  throw new Error(`no such series: ${series}`);
}

const once = await setUp();
const seconds = [];
for (let i = 0; i < count + warmup; i += 1) {
  mark.called = 0;
  mark.ran = 0;
  await once();
  if (!mark.ran || !mark.called) throw new Error(`${series}: the tool did not run`);
  if (i >= warmup) seconds.push((mark.ran - mark.called) / 1000);
}
process.stdout.write(`${JSON.stringify({ series, seconds })}\n`);
