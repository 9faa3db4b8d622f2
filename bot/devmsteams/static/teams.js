// The local Teams' page: who you are (a member of the stand-in), the conversations you are in, and the bot's
// activities there, each card drawn by the `adaptivecards` renderer (window.AdaptiveCards, adaptivecards.min.js). A
// click on an Action.Execute goes to the stand-in (/_teams/execute), which sends the bot the signed invoke as you;
// the card the bot answers becomes yours. The page polls /_teams/state and redraws only the activities that changed.
"use strict";

const POLL_MS = 500;
const ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive";
const page = {
  user: new URLSearchParams(location.search).get("user") || "",
  conversation: "",
  drawn: new Map(), // activity id -> what it was drawn from (JSON), to redraw only what changed
  membersKey: "",
  conversationsKey: "",
};

function $(id) {
  return document.getElementById(id);
}

function el(tag, className, children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const child of children || []) node.append(child);
  return node;
}

function toast(message, error) {
  const box = $("toast");
  box.textContent = message;
  box.className = error ? "toast error" : "toast";
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 6000);
}

function memberLabel(member, tenant) {
  const marks = [];
  if (member.role === "guest") marks.push("guest");
  if (member.tenant_id !== tenant) marks.push("another tenant");
  return member.name + " (" + member.email + ")" + (marks.length ? " · " + marks.join(", ") : "");
}

function drawMembers(state) {
  const key = JSON.stringify([state.members, state.user]);
  if (key === page.membersKey) return;
  page.membersKey = key;
  const select = $("who");
  select.replaceChildren(...state.members.map((m) => {
    const option = el("option", "", [memberLabel(m, state.tenant_id)]);
    option.value = m.user_id;
    option.selected = m.user_id === state.user;
    return option;
  }));
  const me = state.members.find((m) => m.user_id === state.user);
  $("who-detail").textContent = me ? "object id " + me.object_id + " · tenant " + me.tenant_id : "";
}

function drawConversations(state) {
  const known = state.conversations.map((c) => c.id);
  if (!known.includes(page.conversation)) {
    const channel = state.conversations.find((c) => c.kind === "channel") || state.conversations[0];
    page.conversation = channel ? channel.id : "";
    page.drawn.clear();
    $("activities").replaceChildren();
  }
  const key = JSON.stringify([state.conversations.map((c) => [c.id, c.name, c.kind]), page.conversation]);
  if (key !== page.conversationsKey) {
    page.conversationsKey = key;
    $("conversations").replaceChildren(...state.conversations.map((c) => {
      const button = el("button", "", [(c.kind === "channel" ? "# " : "") + (c.name || c.id)]);
      button.type = "button";
      button.dataset.conversation = c.id;
      button.setAttribute("aria-current", String(c.id === page.conversation));
      button.addEventListener("click", () => {
        page.conversation = c.id;
        page.drawn.clear();
        $("activities").replaceChildren();
        poll.now();
      });
      return el("li", "", [button]);
    }));
  }
  const current = state.conversations.find((c) => c.id === page.conversation);
  $("conversation-title").textContent = current ? current.name || current.id : "No conversation";
  $("conversation-kind").textContent = current
    ? { channel: "Channel", groupChat: "Group chat", personal: "Chat with the app" }[current.kind] +
      (current.installed ? "" : " · the app is not added here")
    : "You are in no conversation";
  return current;
}

async function execute(conversation, activity, action) {
  if (action.getJsonTypeName() !== "Action.Execute") {
    if (action.getJsonTypeName() === "Action.OpenUrl" && action.url) window.open(action.url, "_blank", "noopener");
    return;
  }
  let said;
  try {
    const response = await fetch("/_teams/execute", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ conversation, activity, user: page.user, verb: action.verb, data: action.data || {} }),
    });
    said = await response.json();
  } catch (error) {
    toast("The local Teams is not reachable (" + error.message + ")", true);
    return;
  }
  if (!said.ok) {
    toast("Not sent: " + said.error, true);
  } else if (said.status !== 200) {
    toast("The bot answered HTTP " + said.status, true);
  } else {
    const body = said.body || {};
    const value = body.value;
    if (body.type && body.type !== ADAPTIVE_CARD) {
      const words = typeof value === "string" ? value : (value && value.message) || body.type;
      toast(words, body.statusCode >= 400);
    }
  }
  page.drawn.delete(activity); // the answer is this person's card now: draw it afresh
  poll.now();
}

// Teams' markdown in TextBlocks and facts, its common part (a backslash-escaped character as itself; bold, italic,
// code), on text escaped first: nothing of the card's text becomes markup of the page.
function markdown(text, result) {
  const literal = [];
  const html = (t) => t.replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";");
  const kept = String(text).replace(/\u0000/g, "").replace(/\\([!-\/:-@[-`{-~])/g, (_, c) => "\u0000" + (literal.push(c) - 1) + "\u0000");
  result.outputHtml = html(kept)
    .replace(/\*\*([^*\n]+)\*\*/g, "<strong>$1</strong>")
    .replace(/(^|[\s(])_([^_\n]+)_(?=[\s).,;:!?]|$)/g, "$1<em>$2</em>")
    .replace(/`([^`\n]+)`/g, "<code>$1</code>")
    .replace(/\n/g, "<br>")
    .replace(/\u0000(\d+)\u0000/g, (_, i) => html(literal[Number(i)] || ""));
  result.didProcess = true;
}

function drawCard(content, conversation, activity) {
  AdaptiveCards.AdaptiveCard.onProcessMarkdown = markdown;
  const card = new AdaptiveCards.AdaptiveCard();
  card.onExecuteAction = (action) => execute(conversation, activity, action);
  try {
    card.parse(content);
    const node = card.render();
    if (node) return node;
  } catch (error) {
    return el("div", "card-error", ["This card cannot be shown: " + error.message]);
  }
  return el("div", "card-error", ["This card cannot be shown"]);
}

function drawActivity(activity, conversation) {
  const when = activity.timestamp ? new Date(activity.timestamp).toLocaleTimeString() : "";
  const head = el("div", "activity-head", [el("strong", "", ["Agent Approvals"]), when]);
  const body = el("div", "activity-body");
  const cards = (activity.attachments || []).filter((a) => a && a.contentType === ADAPTIVE_CARD);
  for (const attachment of cards) body.append(drawCard(attachment.content, conversation, activity.id));
  if (activity.text) body.append(el("div", "activity-text", [activity.text]));
  const node = el("article", "activity", [head, body]);
  node.dataset.activity = activity.id;
  node.dataset.testid = "activity";
  return node;
}

function drawActivities(current) {
  const box = $("activities");
  const activities = current ? current.activities : [];
  const ids = new Set(activities.map((a) => a.id));
  for (const [id] of page.drawn) {
    if (!ids.has(id)) {
      page.drawn.delete(id);
      const gone = box.querySelector('[data-activity="' + CSS.escape(id) + '"]');
      if (gone) gone.remove();
    }
  }
  let previous = null;
  for (const activity of activities) {
    const key = JSON.stringify(activity);
    let node = box.querySelector('[data-activity="' + CSS.escape(activity.id) + '"]');
    if (page.drawn.get(activity.id) !== key || !node) {
      const fresh = drawActivity(activity, current.id);
      if (node) node.replaceWith(fresh); else box.append(fresh);
      node = fresh;
      page.drawn.set(activity.id, key);
    }
    if (previous && previous.nextSibling !== node) previous.after(node);
    previous = node;
  }
  let empty = box.querySelector(".empty");
  if (!activities.length && !empty) {
    empty = el("div", "empty", ["Nothing from the app here yet."]);
    box.append(empty);
  } else if (activities.length && empty) {
    empty.remove();
  }
}

async function poll() {
  clearTimeout(poll.timer);
  const mine = (poll.asked = (poll.asked || 0) + 1);
  try {
    const response = await fetch("/_teams/state?user=" + encodeURIComponent(page.user), { cache: "no-store" });
    const state = await response.json();
    if (!state.ok) throw new Error(state.error);
    if (mine < (poll.drawn || 0)) return; // a later answer was drawn already: this one is older
    poll.drawn = mine;
    $("banner").hidden = true;
    if (page.user !== state.user) {
      page.user = state.user;
      page.drawn.clear();
      $("activities").replaceChildren();
    }
    drawMembers(state);
    drawActivities(drawConversations(state));
  } catch (error) {
    $("banner").textContent = "The local Teams is not reachable: " + error.message;
    $("banner").hidden = false;
  }
  poll.timer = setTimeout(poll, POLL_MS);
}
poll.now = () => { clearTimeout(poll.timer); poll.timer = setTimeout(poll, 0); };

document.addEventListener("DOMContentLoaded", () => {
  $("who").addEventListener("change", (event) => {
    page.user = event.target.value;
    page.drawn.clear();
    page.conversation = "";
    $("activities").replaceChildren();
    const url = new URL(location.href);
    url.searchParams.set("user", page.user);
    history.replaceState(null, "", url);
    poll.now();
  });
  poll();
});
