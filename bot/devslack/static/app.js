// The local Slack page: renders the stand-in's state (long-polled) and acts through /_control/* as the chosen person.
import { buttonNode, el, fieldValue, inputFields, inputKey, renderBlocks } from "./blocks.js";
import { renderMrkdwn, renderText } from "./mrkdwn.js";

const $ = (id) => document.getElementById(id);
const KNOWN_COMMANDS = ["/agent"];
const SUGGESTIONS = [
  "/agent Draft an email to our top 10 customers about the price change",
  "/agent status",
  "/agent config",
  "/agent help",
];
const TOPICS = {
  general: "Start an agent run here: /agent <task>. Its header and thread show the progress.",
  approvals: "Approval cards from the bot land here. Approve, Reject or Revise.",
  sales: "Another channel to start runs from.",
  random: "Anything else.",
};
const ATTACHMENT_COLORS = { good: "#2eb67d", warning: "#ecb22e", danger: "#e01e5a" };
const AVATAR_COLORS = ["#e8912d", "#2bac76", "#4a154b", "#1264a3", "#e01e5a", "#36c5f0"];

const app = {
  state: null,
  me: localStorage.getItem("devslack.me") || "",
  channel: "",
  home: false, // the app's Home tab is open (instead of app.channel)
  thread: null, // ts of the open thread's parent, in app.threadChannel
  threadChannel: "",
  pending: new Set(), // clicks in flight: `${ts}|${action_id}` (messages), `view|${view}|${action_id}|${value}` (views)
  seen: null, // channel id -> top-level messages already seen
  modalKey: "",
  renderedThread: null,
  submitting: false,
  stickToBottom: true,
};

// ------------------------------------------------------------------------------------------------ helpers

function tsValue(ts) {
  const [sec, usec = "0"] = String(ts).split(".");
  return Number(sec) * 1e6 + Number(usec.padEnd(6, "0"));
}

function byTs(a, b) {
  return tsValue(a.ts) - tsValue(b.ts);
}

function timeOf(ts) {
  const date = new Date(tsValue(ts) / 1000);
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function users() {
  return app.state ? app.state.users : [];
}

function userById(id) {
  return users().find((u) => u.id === id);
}

// The workspaces the local Slack serves (one unless it serves several: #65) and those the person belongs to (a Grid
// person: every workspace of the organisation; a person of no workspace served, a partner: the first one).
function workspaces() {
  return app.state && app.state.workspaces ? app.state.workspaces : [];
}

function myTeams() {
  const all = workspaces();
  const me = userById(app.me);
  const mine = all.find((w) => me && w.id === me.team_id) || all[0];
  if (!mine) return new Set();
  return new Set(all.filter((w) => w.id === mine.id || (mine.enterprise_id && w.enterprise_id === mine.enterprise_id)).map((w) => w.id));
}

function myChannels() {
  if (workspaces().length <= 1) return app.state.channels;
  const teams = myTeams();
  return app.state.channels.filter((c) => teams.has(c.team_id));
}

function myWorkspaceName() {
  const me = userById(app.me);
  const all = workspaces();
  const mine = all.find((w) => me && w.id === me.team_id) || all[0];
  return mine ? mine.name : "Dev Workspace";
}

function channelById(id) {
  return app.state ? app.state.channels.find((c) => c.id === id) : undefined;
}

function channelByName(name) {
  return app.state ? app.state.channels.find((c) => c.name === name) : undefined;
}

function isDm(id) {
  return typeof id === "string" && id.startsWith("D");
}

// The DM between the bot and the person the page is playing (the app's Messages tab).
function myDm() {
  return app.state && app.state.dms ? app.state.dms[app.me] || "" : "";
}

function appName() {
  return app.state.bot.app_name || app.state.bot.name;
}

function conversationName(id) {
  const channel = channelById(id);
  if (channel) return "#" + channel.name;
  if (isDm(id)) return appName();
  return id;
}

function channelMessages(id) {
  return (app.state && app.state.messages[id]) || [];
}

function topLevel(messages) {
  return messages.filter((m) => !m.thread_ts || m.thread_ts === m.ts);
}

function myEphemerals(channel, threadTs) {
  if (!app.state) return [];
  return app.state.ephemerals
    .filter((e) => e.user === app.me && e.channel === channel && (e.thread_ts || null) === (threadTs || null))
    .map((e) => ({ ...e, ephemeral: true }));
}

function mrkdwnContext() {
  return {
    me: app.me,
    userName: (id) => (userById(id) || {}).name || (app.state && id === app.state.bot.user_id ? app.state.bot.name : ""),
    channelName: (id) => (channelById(id) || {}).name || "",
    openChannel: (id) => openChannel(id),
  };
}

async function post(path, body) {
  try {
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) return { ok: false, error: data.error || `HTTP ${response.status}` };
    return { ok: true, ...data };
  } catch (error) {
    return { ok: false, error: "the local Slack is not reachable (" + error.message + ")" };
  }
}

let toastTimer = 0;
function toast(message) {
  const node = $("toast");
  node.textContent = message;
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    node.hidden = true;
  }, 6000);
}

// Slack shows a failed command or click in place; here: a toast saying what the app answered.
function reportDelivery(result, what) {
  if (!result.ok) {
    toast(`${what} failed: ${result.error}`);
    return false;
  }
  if (result.status !== 200) {
    const detail = result.json && result.json.error ? ` (${result.json.error})` : "";
    toast(`${what} failed: the app answered HTTP ${result.status}${detail}`);
    return false;
  }
  return true;
}

function avatar(name, isBot) {
  const node = el("div", "avatar" + (isBot ? " avatar-bot" : ""), [isBot ? "\ud83e\udd16" : name.slice(0, 1).toUpperCase()]);
  if (!isBot) {
    let hash = 0;
    for (const c of name) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
    node.style.backgroundColor = AVATAR_COLORS[hash % AVATAR_COLORS.length];
  }
  node.setAttribute("aria-hidden", "true");
  return node;
}

// ------------------------------------------------------------------------------------------------ navigation

function openChannel(id, { thread = null } = {}) {
  if (!channelById(id) && !(isDm(id) && id === myDm())) return; // a DM: only the bot's with this person
  const changed = app.channel !== id || app.home;
  app.home = false;
  app.channel = id;
  if (thread) {
    app.thread = thread;
    app.threadChannel = id;
  }
  const channel = channelById(id);
  const hash = "#" + (channel ? channel.name : id) + (thread ? "/" + thread : "");
  if (location.hash !== hash || location.pathname !== "/") history.replaceState(null, "", "/" + hash);
  if (changed) app.stickToBottom = true;
  render();
  if (changed) $("composer-input").focus();
  if (changed && id === myDm()) tellAppOpened("messages");
}

// The app's Home tab: shows the Home view published for this person; opening it sends app_home_opened (the bot
// publishes the Home then), as Slack does each time a person opens the tab.
function openHome() {
  app.home = true;
  if (location.hash !== "#home" || location.pathname !== "/") history.replaceState(null, "", "/#home");
  render();
  tellAppOpened("home");
}

async function tellAppOpened(tab) {
  const result = await post("/_control/home", { user: app.me, tab });
  // The Messages tab is only a DM to the person: an app that does not listen to it is no news worth a toast.
  if (tab === "home") reportDelivery(result, "Opening the Home");
}

function openThread(channel, ts) {
  app.thread = ts;
  app.threadChannel = channel;
  render();
  const input = $("thread-input");
  if (input) input.focus();
}

function closeThread() {
  app.thread = null;
  app.threadChannel = "";
  render();
}

function switchUser(id) {
  if (!userById(id) || id === app.me) return;
  const inDm = !app.home && isDm(app.channel);
  app.me = id;
  localStorage.setItem("devslack.me", id);
  app.modalKey = "";
  if (app.home) openHome(); // the new person opens their own Home
  else if (inDm) openChannel(myDm()); // ... or their own DM with the app
  else render();
}

// Where to start: #channel[/thread_ts] in the hash, or a permalink /archives/C…/p…?thread_ts=…
function initialLocation() {
  const perma = location.pathname.match(/^\/archives\/([A-Z0-9]+)\/p(\d+)(\d{6})$/);
  if (perma) {
    const params = new URLSearchParams(location.search);
    const ts = `${perma[2]}.${perma[3]}`;
    return { channel: perma[1], thread: params.get("thread_ts") || ts };
  }
  const [name, thread] = decodeURIComponent(location.hash.slice(1)).split("/");
  if (name === "home") return { channel: "", thread: null, home: true };
  const channel = name ? channelByName(name) || channelById(name) : undefined;
  const id = channel ? channel.id : name === myDm() ? name : "";
  return { channel: id, thread: thread || null, home: false };
}

// ------------------------------------------------------------------------------------------------ rendering

function render() {
  if (!app.state) return;
  renderSidebar();
  renderChannel();
  renderThread();
  renderModal();
}

// Nodes are reused while what they show is unchanged (same signature), so a re-render never swaps the element
// under the pointer between mousedown and mouseup, and keeps focus, selection and scroll. What changes often (a
// channel's unread count as messages arrive, which one is open) is set on the node in place (`update`): a click on
// a channel as a card arrives there is not lost.
const listCaches = new WeakMap();

function syncList(container, items) {
  const cache = listCaches.get(container) || new Map();
  const next = new Map();
  const nodes = items.map((item) => {
    const hit = cache.get(item.key);
    const node = hit && hit.sig === item.sig ? hit.node : item.build();
    if (item.update) item.update(node);
    next.set(item.key, { sig: item.sig, node });
    return node;
  });
  nodes.forEach((node, index) => {
    const current = container.children[index];
    if (current !== node) container.insertBefore(node, current || null);
  });
  while (container.children.length > nodes.length) container.lastElementChild.remove();
  listCaches.set(container, next);
}

function channelItem(channel) {
  const link = el("a", "channel-item", [el("span", "hash", [channel.is_private ? "\ud83d\udd12" : "#"]), channel.name]);
  link.href = "#" + channel.name;
  link.dataset.testid = "channel-" + channel.name;
  link.dataset.channelId = channel.id;
  link.addEventListener("click", (event) => {
    event.preventDefault();
    openChannel(channel.id);
  });
  return el("li", "", [link]);
}

function dmItem(id) {
  const link = el("a", "channel-item", [el("span", "hash", ["\ud83e\udd16"]), appName()]);
  link.href = "#" + id;
  link.dataset.testid = "sidebar-dm-bot";
  link.dataset.channelId = id;
  link.addEventListener("click", (event) => {
    event.preventDefault();
    openChannel(id);
  });
  return el("li", "", [link]);
}

// A channel's or DM's item as it stands: open or not, and its unread badge (`badge`: the badge's test id).
function markItem(item, { open, unread, badge }) {
  const link = item.firstElementChild;
  link.classList.toggle("active", open);
  if (open) link.setAttribute("aria-current", "page");
  else link.removeAttribute("aria-current");
  link.classList.toggle("unread", unread > 0);
  let count = link.querySelector(".badge");
  if (!unread) {
    if (count) count.remove();
    return;
  }
  if (!count) {
    count = el("span", "badge");
    count.dataset.testid = badge;
    link.append(count);
  }
  count.textContent = String(unread);
}

function homeItem() {
  const link = el("a", "channel-item" + (app.home ? " active" : ""), [
    el("span", "hash", ["\ud83c\udfe0"]),
    "Home",
    el("span", "item-note", [appName()]),
  ]);
  link.href = "#home";
  link.dataset.testid = "sidebar-home";
  if (app.home) link.setAttribute("aria-current", "page");
  link.addEventListener("click", (event) => {
    event.preventDefault();
    openHome();
  });
  return el("li", "", [link]);
}

function personItem(user) {
  const selected = user.id === app.me;
  const button = el("button", "person" + (selected ? " selected" : ""), [
    avatar(user.name, false),
    el("span", "person-name", [user.name]),
    el("span", "person-real", [user.real_name]),
  ]);
  button.type = "button";
  button.dataset.testid = "user-" + user.name;
  button.dataset.userId = user.id;
  button.setAttribute("role", "radio");
  button.setAttribute("aria-checked", selected ? "true" : "false");
  button.title = selected ? `You are ${user.name}` : `Switch to ${user.name}`;
  button.addEventListener("click", () => switchUser(user.id));
  return button;
}

const INSTALLED = { team: "installed", organisation: "installed org-wide", none: "not installed" };

function workspaceItem(w) {
  const parts = [
    el("span", "workspace-item-name", [w.name]),
    el("span", "person-real", [w.id + (w.enterprise_id ? " · " + w.enterprise_id : "")]),
    el("span", "workspace-state", [INSTALLED[w.installed] || w.installed]),
  ];
  const item = el("li", "workspace-item", parts);
  item.dataset.testid = "workspace-" + w.id;
  const installation = w.installed === "organisation" ? w.enterprise_id : w.id;
  if (w.installed !== "none" && !(w.installed === "organisation" && w.id !== firstOfOrg(w))) {
    const button = el("button", "workspace-uninstall", ["Uninstall"]);
    button.type = "button";
    button.dataset.testid = "uninstall-" + installation;
    button.title = "Remove the app, as a person does in Slack: the bot is sent tokens_revoked and app_uninstalled";
    button.addEventListener("click", async () => {
      const result = await post("/_control/uninstall", { installation });
      if (!result.ok) toast(result.error);
    });
    item.append(button);
  }
  return item;
}

function firstOfOrg(w) {
  const first = workspaces().find((x) => x.enterprise_id === w.enterprise_id);
  return first ? first.id : w.id;
}

function renderSidebar() {
  $("workspace-name").textContent = myWorkspaceName();
  const several = workspaces().length > 1;
  $("workspaces").hidden = !several;
  syncList(
    $("workspace-list"),
    several ? workspaces().map((w) => ({ key: w.id, sig: JSON.stringify(w), build: () => workspaceItem(w) })) : [],
  );
  syncList($("app-list"), [{ key: "home", sig: JSON.stringify([app.home, appName()]), build: homeItem }]);
  syncList(
    $("channel-list"),
    myChannels().map((channel) => {
      const count = topLevel(channelMessages(channel.id)).length;
      const open = channel.id === app.channel && !app.home;
      const unread = open ? 0 : Math.max(0, count - (app.seen[channel.id] || 0));
      return {
        key: channel.id,
        sig: JSON.stringify(channel),
        build: () => channelItem(channel),
        update: (node) => markItem(node, { open, unread, badge: "unread-" + channel.name }),
      };
    }),
  );
  const dms = myDm() ? [myDm()] : []; // the person's DM with the app, always there (like the app's Messages tab)
  $("dm-title").hidden = dms.length === 0;
  syncList(
    $("dm-list"),
    dms.map((id) => {
      const count = topLevel(channelMessages(id)).length;
      const open = id === app.channel && !app.home;
      const unread = open ? 0 : Math.max(0, count - (app.seen[id] || 0));
      return {
        key: id,
        sig: appName(),
        build: () => dmItem(id),
        update: (node) => markItem(node, { open, unread, badge: "unread-dm-bot" }),
      };
    }),
  );
  syncList(
    $("people-list"),
    users().map((user) => ({ key: user.id, sig: JSON.stringify([user, user.id === app.me]), build: () => personItem(user) })),
  );
}

function messageNode(m, { inThread }) {
  const isBot = Boolean(m.bot_id) || m.user === app.state.bot.user_id || m.ephemeral;
  const name = isBot ? app.state.bot.name : (userById(m.user) || {}).name || m.user;
  const node = el("div", "message" + (m.ephemeral ? " ephemeral" : ""));
  node.dataset.testid = m.ephemeral ? "ephemeral" : "message";
  node.dataset.ts = m.ts;
  node.dataset.channel = m.channel;
  node.dataset.author = name;
  if (m.thread_ts) node.dataset.threadTs = m.thread_ts;
  const meta = el("div", "meta", [el("span", "author", [name])]);
  if (isBot) meta.append(el("span", "app-badge", ["APP"]));
  const time = el("span", "time", [timeOf(m.ts)]);
  meta.append(time);
  const body = el("div", "message-body", [meta]);
  const content = el("div", "content");
  content.dataset.testid = "message-content";
  const ctx = {
    ...mrkdwnContext(),
    button: (element) => messageButton(m, element),
  };
  if (Array.isArray(m.blocks) && m.blocks.length) content.append(renderBlocks(m.blocks, ctx));
  else if (m.text) content.append(renderMrkdwn(m.text, ctx));
  for (const attachment of m.attachments || []) {
    const bar = el("div", "attachment");
    const color = ATTACHMENT_COLORS[attachment.color] || String(attachment.color || "");
    if (/^#?[0-9a-f]{3,6}$/i.test(color)) bar.style.borderLeftColor = color.startsWith("#") ? color : "#" + color;
    if (attachment.blocks) bar.append(renderBlocks(attachment.blocks, ctx));
    else if (attachment.text || attachment.fallback) bar.append(renderMrkdwn(String(attachment.text || attachment.fallback), ctx));
    content.append(bar);
  }
  for (const file of m.files || []) {
    const link = el("a", "file", ["\ud83d\udcc4 " + (file.title || file.name) + ` (${file.size} bytes)`]);
    link.href = "/_files/" + encodeURIComponent(file.id);
    link.target = "_blank";
    link.rel = "noopener";
    content.append(link);
  }
  body.append(content);
  if (m.edited) body.append(el("span", "edited", ["(edited)"]));
  if (m.ephemeral) {
    const note = el("div", "ephemeral-note", ["\ud83d\udc41\ufe0f Only visible to you"]);
    note.dataset.testid = "only-visible-to-you";
    body.append(note);
  }
  if (!inThread && m.reply_count > 0) {
    const replies = el("button", "replies", [`${m.reply_count} ${m.reply_count === 1 ? "reply" : "replies"}`]);
    replies.type = "button";
    replies.dataset.testid = "replies";
    replies.addEventListener("click", () => openThread(m.channel, m.ts));
    const last = channelMessages(m.channel).filter((r) => r.thread_ts === m.ts && r.ts !== m.ts).pop();
    const row = el("div", "replies-row", [replies]);
    if (last) row.append(el("span", "replies-last", ["Last reply " + timeOf(last.ts)]));
    body.append(row);
  }
  node.append(avatar(name, isBot), body);
  return node;
}

function messageButton(message, element) {
  const node = buttonNode(element);
  const key = `${message.ts}|${element.action_id}`;
  if (app.pending.has(key)) {
    node.disabled = true;
    node.classList.add("sk-busy");
  }
  node.addEventListener("click", () => clickButton(message, element));
  return node;
}

async function clickButton(message, element) {
  if (element.url) window.open(element.url, "_blank", "noopener,noreferrer");
  if (element.confirm && !(await confirmDialog(element.confirm))) return;
  const key = `${message.ts}|${element.action_id}`;
  if (app.pending.has(key)) return;
  app.pending.add(key);
  render();
  const body = {
    user: app.me,
    channel: message.channel,
    ts: message.ts,
    action_id: element.action_id,
    as_seen: { ts: message.ts, blocks: message.blocks }, // what this page showed: a stale card clicks stale
  };
  const result = await post("/_control/click", body);
  app.pending.delete(key);
  reportDelivery(result, `Clicking "${element.text ? element.text.text : element.action_id}"`);
  render();
}

function confirmDialog(confirm) {
  return new Promise((resolve) => {
    const previous = document.activeElement;
    const ctx = mrkdwnContext();
    const done = (answer) => {
      backdrop.remove();
      document.removeEventListener("keydown", onKey, true);
      if (previous && previous.focus) previous.focus();
      resolve(answer);
    };
    const onKey = (event) => {
      if (event.key === "Escape") {
        event.stopPropagation();
        done(false);
      }
    };
    const deny = el("button", "sk-button", [renderText(confirm.deny || { type: "plain_text", text: "Cancel" }, ctx)]);
    deny.type = "button";
    deny.dataset.testid = "confirm-cancel";
    deny.addEventListener("click", () => done(false));
    const ok = el("button", "sk-button " + (confirm.style === "danger" ? "sk-danger" : "sk-primary"), [
      renderText(confirm.confirm || { type: "plain_text", text: "Yes" }, ctx),
    ]);
    ok.type = "button";
    ok.dataset.testid = "confirm-ok";
    ok.addEventListener("click", () => done(true));
    const dialog = el("div", "modal confirm", [
      el("div", "modal-header", [el("h2", "modal-title", [renderText(confirm.title || { type: "plain_text", text: "Are you sure?" }, ctx)])]),
      el("div", "modal-body", [renderText(confirm.text || { type: "plain_text", text: "" }, ctx)]),
      el("div", "modal-footer", [deny, ok]),
    ]);
    dialog.setAttribute("role", "alertdialog");
    dialog.setAttribute("aria-modal", "true");
    dialog.dataset.testid = "confirm-dialog";
    const backdrop = el("div", "backdrop", [dialog]);
    backdrop.addEventListener("click", (event) => {
      if (event.target === backdrop) done(false);
    });
    document.addEventListener("keydown", onKey, true);
    document.body.append(backdrop);
    ok.focus();
  });
}

function messageItem(m, inThread) {
  const pending = [...app.pending].filter((key) => key.startsWith(m.ts + "|"));
  const replies = inThread ? [] : channelMessages(m.channel).filter((r) => r.thread_ts === m.ts && r.ts !== m.ts);
  const last = replies.length ? replies[replies.length - 1].ts : "";
  return {
    key: (m.ephemeral ? "e" : "m") + m.ts,
    sig: JSON.stringify([m, app.me, pending, inThread, last]),
    build: () => messageNode(m, { inThread }),
  };
}

// A list stays scrolled to the bottom while the person has not scrolled up (new messages come in at the bottom),
// also when it gets narrower (the thread pane opens) and its messages taller.
const pinned = new WeakMap();

function followBottom(container) {
  const measure = () => `${container.clientWidth}x${container.clientHeight}x${container.scrollHeight}`;
  let layout = "";
  const stick = () => {
    if (pinned.get(container)) container.scrollTop = container.scrollHeight;
  };
  pinned.set(container, true);
  container.addEventListener("scroll", () => {
    const now = measure();
    if (now !== layout) {
      layout = now; // the layout moved (resize, new or taller messages), not the person: keep following
      stick();
      return;
    }
    pinned.set(container, container.scrollHeight - container.scrollTop - container.clientHeight < 60);
  });
  new ResizeObserver(() => {
    layout = measure();
    stick();
  }).observe(container);
}

function renderMessageList(container, items, { stick = false } = {}) {
  syncList(container, items);
  if (stick || pinned.get(container)) {
    container.scrollTop = container.scrollHeight;
    pinned.set(container, true);
  }
}

function renderCurrentUser() {
  const me = userById(app.me);
  const meName = el("span", "", [me ? me.name : "?"]);
  meName.dataset.testid = "current-user-name";
  $("current-user").replaceChildren(avatar(me ? me.name : "?", false), el("span", "", ["You are ", meName]));
}

// The app's conversation has two tabs here, as in Slack: Home and Messages (the DM).
function renderAppTabs() {
  const inApp = app.home || (isDm(app.channel) && app.channel === myDm());
  const tabs = $("app-tabs");
  tabs.hidden = !inApp;
  if (!inApp) return;
  const tab = (name, label, active, open) => {
    const node = el("button", "app-tab" + (active ? " active" : ""), [label]);
    node.type = "button";
    node.dataset.testid = "tab-" + name;
    node.setAttribute("role", "tab");
    node.setAttribute("aria-selected", active ? "true" : "false");
    node.addEventListener("click", open);
    return node;
  };
  syncList(tabs, [
    { key: "home", sig: String(app.home), build: () => tab("home", "Home", app.home, openHome) },
    { key: "messages", sig: String(!app.home), build: () => tab("messages", "Messages", !app.home, () => openChannel(myDm())) },
  ]);
}

function renderChannel() {
  renderCurrentUser();
  renderAppTabs();
  $("home").hidden = !app.home;
  $("messages").hidden = app.home;
  $("composer").hidden = app.home;
  if (app.home) {
    $("channel-title").textContent = appName();
    $("channel-topic").textContent = "Home: what the app shows you";
    document.title = `${appName()} · Home · Local Slack`;
    renderHome();
    return;
  }
  const channel = channelById(app.channel);
  const name = conversationName(app.channel);
  $("channel-title").textContent = name;
  $("channel-topic").textContent = channel ? TOPICS[channel.name] || "" : "Messages between you and the app";
  document.title = `${name} · Local Slack`;
  $("composer-input").placeholder = `Message ${name}  (try /agent …)`;
  const all = channelMessages(app.channel);
  app.seen[app.channel] = topLevel(all).length;
  const shown = [...topLevel(all), ...myEphemerals(app.channel, null)].sort(byTs);
  const container = $("messages");
  const empty = () => el("div", "empty", [
    el("div", "empty-title", [`This is the very beginning of ${name}`]),
    el("div", "empty-hint", [
      channel && channel.name === "approvals"
        ? "Approval cards from the bot will appear here."
        : channel
          ? "Type /agent followed by a task below to start an agent run."
          : "Approvals the app sends you directly will appear here.",
    ]),
  ]);
  const items = shown.map((m) => messageItem(m, false));
  if (!items.length) items.push({ key: "empty", sig: app.channel, build: empty });
  renderMessageList(container, items, { stick: app.stickToBottom });
  app.stickToBottom = false;
}

function renderThread() {
  const pane = $("thread");
  const parent = app.thread ? channelMessages(app.threadChannel).find((m) => m.ts === app.thread) : undefined;
  if (!parent) {
    app.renderedThread = null;
    pane.hidden = true;
    document.body.classList.remove("with-thread");
    return;
  }
  pane.hidden = false;
  document.body.classList.add("with-thread");
  $("thread-channel").textContent = conversationName(app.threadChannel);
  const replies = channelMessages(app.threadChannel).filter((m) => m.thread_ts === parent.ts && m.ts !== parent.ts);
  const shown = [...replies, ...myEphemerals(app.threadChannel, parent.ts)].sort(byTs);
  const container = $("thread-messages");
  const count = `${replies.length} ${replies.length === 1 ? "reply" : "replies"}`;
  const opened = app.renderedThread !== parent.ts;
  app.renderedThread = parent.ts;
  renderMessageList(container, [
    { ...messageItem(parent, true), key: "parent" + parent.ts },
    { key: "divider", sig: count, build: () => el("div", "thread-divider", [count]) },
    ...shown.map((m) => messageItem(m, true)),
  ], { stick: opened });
}

// ------------------------------------------------------------------------------------------------ the app's Home

function renderHome() {
  const home = app.state.homes ? app.state.homes[app.me] : null;
  const pending = [...app.pending].filter((key) => key.startsWith("view|home|"));
  syncList($("home"), [
    {
      key: home ? "home" + home.id : "empty",
      sig: JSON.stringify([app.me, home ? home.hash : null, pending]),
      build: () => (home ? homeNode(home) : emptyHome()),
    },
  ]);
}

function homeNode(home) {
  const ctx = { ...mrkdwnContext(), button: (element) => viewButton(element, null) };
  const node = el("div", "home-view", [renderBlocks(home.blocks || [], ctx)]);
  node.dataset.viewId = home.id;
  node.dataset.callbackId = home.callback_id || "";
  return node;
}

function emptyHome() {
  const node = el("div", "empty", [
    el("div", "empty-title", [`${appName()} has not published a Home for you yet`]),
    el("div", "empty-hint", ["Opening this tab told the app (app_home_opened); it answers with views.publish."]),
  ]);
  node.dataset.testid = "home-empty";
  return node;
}

// A button in a view: the person's Home (view null) or an open modal. Clicks post /_control/click_view with the
// button's value, which picks the button among the Home's many with the same action_id.
function viewButton(element, view) {
  const node = buttonNode(element);
  const key = viewClickKey(element, view);
  if (app.pending.has(key)) {
    node.disabled = true;
    node.classList.add("sk-busy");
  }
  node.addEventListener("click", () => clickViewButton(element, view));
  return node;
}

function viewClickKey(element, view) {
  return `view|${view ? view.id : "home"}|${element.action_id}|${element.value === undefined ? "" : element.value}`;
}

async function clickViewButton(element, view) {
  if (element.url) window.open(element.url, "_blank", "noopener,noreferrer");
  if (element.confirm && !(await confirmDialog(element.confirm))) return;
  const key = viewClickKey(element, view);
  if (app.pending.has(key)) return;
  app.pending.add(key);
  render();
  const body = { user: app.me, action_id: element.action_id };
  if (element.value !== undefined) body.value = element.value;
  if (view) {
    body.view_id = view.id;
    const form = document.querySelector("#modal-root form");
    if (form) body.values = formValues(form); // what the person has entered so far: the view's state
  }
  const result = await post("/_control/click_view", body);
  app.pending.delete(key);
  reportDelivery(result, `Clicking "${element.text ? element.text.text : element.action_id}"`);
  render();
}

// ------------------------------------------------------------------------------------------------ modals

function currentView() {
  const mine = app.state.views.filter((v) => v.user === app.me);
  return mine.length ? mine[mine.length - 1] : null;
}

function modalValues() {
  const values = {};
  for (const field of inputFields($("modal-root"))) {
    values[inputKey(field.dataset.blockId, field.dataset.actionId)] = fieldValue(field);
  }
  return values;
}

// {block_id: {action_id: value}}: what /_control/submit_view and /_control/click_view take.
function formValues(form) {
  const values = {};
  for (const field of inputFields(form)) {
    (values[field.dataset.blockId] ||= {})[field.dataset.actionId] = fieldValue(field);
  }
  return values;
}

function renderModal() {
  const view = currentView();
  const pending = view ? [...app.pending].filter((k) => k.startsWith(`view|${view.id}|`)) : [];
  const key = view ? `${app.me}|${view.id}|${view.hash}|${JSON.stringify(view.errors || {})}|${pending}` : "";
  if (key === app.modalKey) return;
  const root = $("modal-root");
  const sameView = view && root.dataset.viewId === view.id;
  const kept = sameView ? modalValues() : {};
  const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.testid : "";
  app.modalKey = key;
  root.replaceChildren();
  root.dataset.viewId = view ? view.id : "";
  if (!view) return;
  const spec = view.view;
  const errors = { ...(view.errors || {}) };
  const ctx = { ...mrkdwnContext(), values: kept, errors, button: (element) => viewButton(element, view) };
  const blocks = renderBlocks(spec.blocks || [], ctx);
  const known = new Set((spec.blocks || []).map((b) => b.block_id));
  const stray = Object.entries(errors).filter(([blockId]) => !known.has(blockId));
  const close = el("button", "sk-button", [renderText(spec.close || { type: "plain_text", text: "Cancel" }, ctx)]);
  close.type = "button";
  close.dataset.testid = "modal-close";
  close.addEventListener("click", () => closeModal(view));
  const x = el("button", "modal-x", ["\u00d7"]);
  x.type = "button";
  x.setAttribute("aria-label", "Close");
  x.dataset.testid = "modal-x";
  x.addEventListener("click", () => closeModal(view));
  const footer = el("div", "modal-footer", [close]);
  if (spec.submit) {
    const submit = el("button", "sk-button sk-primary", [renderText(spec.submit, ctx)]);
    submit.type = "submit";
    submit.dataset.testid = "modal-submit";
    footer.append(submit);
  }
  const form = el("form", "modal", [
    el("div", "modal-header", [el("h2", "modal-title", [renderText(spec.title || { type: "plain_text", text: "" }, ctx)]), x]),
    el("div", "modal-body", [
      ...stray.map(([blockId, message]) => {
        const node = el("div", "input-error", [`${blockId}: ${message}`]);
        node.dataset.testid = "input-error-" + blockId;
        return node;
      }),
      blocks,
    ]),
    footer,
  ]);
  form.noValidate = true;
  form.dataset.testid = "modal";
  form.dataset.viewId = view.id;
  form.dataset.callbackId = spec.callback_id || "";
  form.setAttribute("role", "dialog");
  form.setAttribute("aria-modal", "true");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitModal(view, form);
  });
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeModal(view);
    if (event.key === "Enter" && (event.metaKey || event.ctrlKey)) form.requestSubmit();
  });
  root.append(el("div", "backdrop", [form]));
  const again = focused && form.querySelector(`[data-testid="${CSS.escape(focused)}"]`);
  const first = again || form.querySelector(".input-field, .input-choices input");
  if (first) first.focus();
}

function localErrors(form) {
  const errors = {};
  for (const field of inputFields(form)) {
    const value = fieldValue(field);
    const empty = value === null || !value.length;
    const min = Number(field.dataset.minLength || 0);
    if (empty && field.dataset.optional !== "true") errors[field.dataset.blockId] = "Please complete this required field.";
    else if (!empty && typeof value === "string" && value.length < min) {
      errors[field.dataset.blockId] = `Please enter at least ${min} characters.`;
    }
  }
  return errors;
}

async function submitModal(view, form) {
  if (app.submitting) return;
  const errors = localErrors(form);
  if (Object.keys(errors).length) {
    // Slack checks required fields in the client, without asking the app.
    for (const node of form.querySelectorAll(".input-error.local")) node.remove();
    for (const [blockId, message] of Object.entries(errors)) {
      const block = form.querySelector(`.block-input[data-block-id="${CSS.escape(blockId)}"]`);
      if (!block) continue;
      const node = el("div", "input-error local", [message]);
      node.dataset.testid = "input-error-" + blockId;
      block.classList.add("has-error");
      block.append(node);
    }
    return;
  }
  const values = formValues(form);
  app.submitting = true;
  const submit = form.querySelector('[data-testid="modal-submit"]');
  if (submit) submit.disabled = true;
  const result = await post("/_control/submit_view", { user: app.me, view_id: view.id, values });
  app.submitting = false;
  if (submit) submit.disabled = false;
  reportDelivery(result, "Submitting the form");
}

async function closeModal(view) {
  const result = await post("/_control/close_view", { user: app.me, view_id: view.id });
  if (!result.ok) toast(`Closing the form failed: ${result.error}`);
}

// ------------------------------------------------------------------------------------------------ composing

async function send(text, { threadTs = null } = {}) {
  const trimmed = text.trim();
  if (!trimmed) return true;
  if (trimmed.startsWith("/")) {
    const [, command, rest] = trimmed.match(/^(\/\S+)\s*([\s\S]*)$/);
    if (!KNOWN_COMMANDS.includes(command)) {
      toast(`${command} is not a valid command. In the local Slack only /agent is installed: try /agent help.`);
      return false;
    }
    const channel = threadTs ? app.threadChannel : app.channel;
    const result = await post("/_control/command", { user: app.me, channel, command, text: rest });
    return reportDelivery(result, command);
  }
  if (!threadTs && app.state && app.channel === app.state.dms[app.me]) {
    // the app's Messages tab: the text goes to the app as a message (a task: sessions.js draws its session)
    const sent = await post("/_control/message_bot", { user: app.me, text });
    if (!sent.ok) toast(`Sending failed: ${sent.error}`);
    return sent.ok;
  }
  const result = await post("/_control/message", { user: app.me, channel: threadTs ? app.threadChannel : app.channel, text, thread_ts: threadTs });
  if (!result.ok) toast(`Sending failed: ${result.error}`);
  return result.ok;
}

function setupComposer(formId, inputId, threadTs) {
  const form = $(formId);
  const input = $(inputId);
  const grow = () => {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 200) + "px";
  };
  input.addEventListener("input", grow);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    input.value = "";
    grow();
    const ok = await send(text, { threadTs: threadTs() });
    if (!ok && !input.value) {
      input.value = text; // keep what was typed, like Slack does after an error
      grow();
    }
  });
}

function setupSuggestions() {
  const list = $("suggestions");
  for (const text of SUGGESTIONS) {
    const chip = el("button", "suggestion", [text]);
    chip.type = "button";
    chip.dataset.testid = "suggestion";
    chip.addEventListener("click", () => {
      const input = $("composer-input");
      input.value = text;
      input.dispatchEvent(new Event("input"));
      input.focus();
    });
    list.append(chip);
  }
}

// ------------------------------------------------------------------------------------------------ live updates

async function poll() {
  let since = -1;
  let instance = "";
  for (;;) {
    try {
      const query = new URLSearchParams({ since: String(since), instance, wait: "25" });
      const response = await fetch("/_control/state?" + query, { cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const state = await response.json();
      if (state.instance !== instance) app.seen = null; // a new (restarted) workspace
      since = state.version;
      instance = state.instance;
      receive(state);
      $("banner").hidden = true;
    } catch (error) {
      $("banner").textContent = "Reconnecting to the local Slack… (is `python -m bot dev` still running?)";
      $("banner").hidden = false;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

function receive(state) {
  const first = app.state === null;
  app.state = state;
  if (app.seen === null) {
    app.seen = {};
    for (const channel of state.channels) app.seen[channel.id] = topLevel(channelMessages(channel.id)).length;
    for (const dm of Object.values(state.dms || {})) app.seen[dm] = topLevel(channelMessages(dm)).length;
  }
  if (!userById(app.me)) app.me = state.users.length ? state.users[0].id : "";
  if (first) {
    const start = initialLocation();
    const general = channelByName("general");
    app.channel = start.channel || (general ? general.id : state.channels[0].id);
    if (start.thread) {
      app.thread = start.thread;
      app.threadChannel = app.channel;
    }
    document.body.classList.add("ready");
    app.stickToBottom = true;
    if (start.home) {
      openHome();
      return;
    }
  }
  render();
}

function main() {
  setupComposer("composer", "composer-input", () => null);
  setupComposer("thread-composer", "thread-input", () => app.thread);
  setupSuggestions();
  followBottom($("messages"));
  followBottom($("thread-messages"));
  $("thread-close").addEventListener("click", closeThread);
  window.addEventListener("hashchange", () => {
    if (!app.state) return;
    const target = initialLocation();
    if (target.home && !app.home) openHome();
    else if (target.channel && (target.channel !== app.channel || app.home)) openChannel(target.channel);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && app.thread && !document.querySelector(".backdrop")) closeThread();
  });
  poll();
}

main();
window.devslack = app; // for the browser console: devslack.state
