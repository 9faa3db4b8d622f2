// The "Slackbot" pane: ask Slackbot (as the person chosen in the sidebar) to call one of the bot's MCP tools. The
// local Slack signs the call as Slackbot's MCP client does (bot/devslack/slackbot.py); the pane draws the
// `_meta.slack.blocks` that come back, and a click on one of their `tool:<name>` buttons calls `<name>` with the
// button's value (a JSON object) as its arguments, the new blocks replacing the old, as Slackbot does.
import { el, renderBlocks, buttonNode } from "./blocks.js";

const pane = {
  open: false,
  tools: [],
};

function me() {
  return (window.devslack && window.devslack.me) || "";
}

function nameContext() {
  const state = (window.devslack && window.devslack.state) || { users: [], channels: [] };
  return {
    me: me(),
    userName: (id) => ((state.users || []).find((u) => u.id === id) || {}).name || "",
    channelName: (id) => ((state.channels || []).find((c) => c.id === id) || {}).name || "",
    openChannel: () => {},
  };
}

async function call(tool, args) {
  show(el("div", "slackbot-note", ["Slackbot is calling " + tool + "…"]), "calling");
  let said;
  try {
    const response = await fetch("/_control/slackbot/call", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: me(), tool, arguments: args }),
    });
    said = await response.json();
  } catch (error) {
    said = { error: "the local Slack is not reachable (" + error.message + ")" };
  }
  show(...answerOf(said));
}

// What an answer shows, and its state: a refusal (the local Slack's, or the endpoint's JSON-RPC error), else the
// result's `_meta.slack.blocks` (or its text when it has none).
function answerOf(said) {
  const rpc = said.answer || {};
  if (said.error || rpc.error) {
    return [refusal("Refused: " + (said.error || (rpc.error && rpc.error.message) || "refused")), "error"];
  }
  const result = rpc.result || {};
  const blocks = ((result._meta || {}).slack || {}).blocks;
  const ctx = { ...nameContext(), button: toolButton };
  const text = (result.content || []).filter((c) => c.type === "text").map((c) => c.text).join("\n");
  const shown = Array.isArray(blocks) ? renderBlocks(blocks, ctx) : el("pre", "slackbot-text", [text]);
  return [shown, result.isError ? "error" : "ok"];
}

function refusal(message) {
  return el("div", "slackbot-error", [message]);
}

// The one place the answer area is drawn.
function show(node, state) {
  const answer = $("slackbot-answer");
  answer.replaceChildren(node);
  answer.dataset.state = state;
}

function toolButton(element) {
  const node = buttonNode(element);
  const actionId = String(element.action_id || "");
  if (!actionId.startsWith("tool:")) {
    node.disabled = true; // Slackbot follows only tool: buttons
    return node;
  }
  node.addEventListener("click", () => {
    let args = {};
    try {
      args = JSON.parse(element.value || "{}");
    } catch {
      args = {};
    }
    call(actionId.slice("tool:".length), args);
  });
  return node;
}

async function loadTools() {
  const select = $("slackbot-tool");
  try {
    const response = await fetch("/_control/slackbot/tools");
    const said = await response.json();
    pane.tools = Array.isArray(said.tools) ? said.tools : [];
    if (said.error) show(refusal(said.error), "error");
  } catch {
    pane.tools = [];
  }
  select.replaceChildren(
    ...pane.tools.map((tool) => {
      const option = el("option", "", [tool.name + ((tool.annotations || {}).readOnlyHint ? " (read-only)" : "")]);
      option.value = tool.name;
      return option;
    }),
  );
}

function $(id) {
  return document.getElementById(id);
}

// One element of the pane: its class, the name the page's tests find it by (data-testid), its properties.
function part(tag, className, testid, props = {}, children = []) {
  const node = Object.assign(el(tag, className, children), props);
  node.dataset.testid = testid;
  return node;
}

function build() {
  const toggle = part("button", "slackbot-toggle", "slackbot-toggle", { type: "button" }, ["Slackbot"]);
  const select = part("select", "slackbot-tool", "slackbot-tool", { id: "slackbot-tool" });
  const args = part("textarea", "slackbot-args", "slackbot-args", { id: "slackbot-args", rows: 4, value: "{}" });
  const ask = part("button", "sk-button sk-primary", "slackbot-ask", { type: "button" }, ["Ask Slackbot"]);
  const answer = part("div", "slackbot-answer", "slackbot-answer", { id: "slackbot-answer" });
  const panel = part("section", "slackbot-pane", "slackbot-pane", { hidden: true }, [
    el("header", "slackbot-header", ["Slackbot (MCP, signed as Slack signs it)"]),
    el("label", "slackbot-label", ["Tool ", select]),
    el("label", "slackbot-label", ["Arguments (JSON) ", args]),
    ask,
    answer,
  ]);
  toggle.addEventListener("click", () => {
    pane.open = !pane.open;
    panel.hidden = !pane.open;
    if (pane.open) loadTools();
  });
  ask.addEventListener("click", () => {
    let parsed;
    try {
      parsed = JSON.parse(args.value || "{}");
    } catch {
      show(refusal("The arguments are not JSON."), "error");
      return;
    }
    if (select.value) call(select.value, parsed);
  });
  document.body.append(toggle, panel);
}

build();
