// Agent sessions on the page, drawn over app.js's messages: a session's status and Slack's Stop button on its
// thread's parent, a streamed message's plan and tasks under its text (GET /_control/sessions, kept current;
// Stop: POST /_control/session_stop). Text is set as text, never as markup.

const MARKS = { pending: "\u25cb", in_progress: "\u25d0", complete: "\u2713", error: "\u2717" };
let data = { sessions: {}, streams: {} };

function node(tag, cls, text) {
  const made = document.createElement(tag);
  if (cls) made.className = cls;
  if (text !== undefined) made.textContent = text;
  return made;
}

async function stop(channel, threadTs) {
  const user = window.devslack ? window.devslack.me : "";
  await fetch("/_control/session_stop", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user, channel, thread_ts: threadTs }),
  });
  refresh();
}

function sessionBar(channel, ts, session) {
  const bar = node("div", "session-bar session-extra");
  bar.dataset.testid = "session";
  const status = node("span", "session-status " + session.status, session.status);
  status.dataset.testid = "session-status";
  bar.append(node("span", "", "Agent session"), status);
  if (session.status === "processing") {  // as in Slack: Stop shows only while the agent works
    const button = node("button", "session-stop", "Stop");
    button.type = "button";
    button.dataset.testid = "session-stop";
    button.addEventListener("click", () => stop(channel, ts));
    bar.append(button);
  }
  return bar;
}

function planNode(stream) {
  const plan = node("div", "session-plan session-extra");
  plan.dataset.testid = "session-plan";
  if (stream.plan) plan.append(node("div", "session-plan-title", stream.plan));
  for (const task of Object.values(stream.tasks)) {
    const row = node("div", "session-task " + task.status);
    row.dataset.testid = "session-task";
    row.dataset.status = task.status;
    row.append(node("span", "session-mark", (MARKS[task.status] || "\u2022") + " "), node("span", "", task.title));
    for (const source of task.sources || []) {
      if (!/^https?:\/\//.test(String(source.url))) continue;
      const link = node("a", "", " " + source.text);
      link.href = source.url;
      row.append(link);
    }
    if (task.details) row.append(node("div", "session-details", task.details));
    plan.append(row);
  }
  if (stream.streaming) plan.append(node("div", "session-streaming", "streaming\u2026"));
  return plan;
}

function decorate() {
  for (const message of document.querySelectorAll('[data-testid="message"]')) {
    const { ts, channel } = message.dataset;
    const session = data.sessions[`${channel} ${ts}`];
    const stream = data.streams[ts];
    const sig = JSON.stringify([session ? session.status : null, stream || null]);
    if (message.dataset.sessionSig === sig) continue;
    message.dataset.sessionSig = sig;
    message.querySelectorAll(".session-extra").forEach((extra) => extra.remove());
    const body = message.querySelector(".message-body") || message;
    if (session) body.append(sessionBar(channel, ts, session));
    if (stream) body.append(planNode(stream));
  }
}

async function refresh() {
  try {
    const response = await fetch("/_control/sessions", { cache: "no-store" });
    if (response.ok) data = await response.json();
  } catch (error) {
    return;
  }
  decorate();
}

let queued = false;
new MutationObserver(() => {
  if (queued) return;
  queued = true;
  requestAnimationFrame(() => {
    queued = false;
    decorate();
  });
}).observe(document.body, { childList: true, subtree: true });
setInterval(refresh, 500);
refresh();
