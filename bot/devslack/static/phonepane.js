// The "Phone" pane (dev mode with --push): every push the local push service (bot/devpush/, served by dev at
// /_control/phone) received and decrypted, newest first, as a phone's notification shows it: the heading, the title,
// the agent, the summary and its Approve / Reject actions. A push's words are untrusted text: only ever set as
// textContent; an action becomes an <a> whose href (only a /push/... path) is set with setAttribute. An action opens
// the worker's confirm page through this page's own origin (the local Slack forwards /push to the worker), where the
// person signs in and decides with the page's POST, as the service worker's notificationclick opens it.
import { el } from "./blocks.js";

const POLL_MS = 1000;

function hasPhone() {
  const state = (window.devslack && window.devslack.state) || {};
  return state.phone === true;
}

function hereOf(link) {
  let url;
  try {
    url = new URL(link);
  } catch {
    return null;
  }
  if (!/^https?:$/.test(url.protocol) || !url.pathname.startsWith("/push/")) return null;
  return url.pathname + url.search;
}

function text(tag, className, value) {
  const node = el(tag, className);
  node.textContent = String(value ?? "");
  return node;
}

function drawPush(push) {
  const data = push.data || {};
  const item = el("article", "mail-item");
  item.dataset.testid = "push";
  const heading = text("div", "mail-subject", data.heading);
  heading.dataset.testid = "push-heading";
  const to = text("div", "mail-from", `To ${push.label || push.device}`);
  const body = text("pre", "mail-text", [data.title, data.agent, data.summary].filter(Boolean).join("\n"));
  body.dataset.testid = "push-text";
  const actions = el("div", "mail-links");
  for (const action of Array.isArray(data.actions) ? data.actions : []) {
    const here = hereOf(action.url);
    if (!here) continue;
    const anchor = text("a", "mail-link", action.title);
    anchor.setAttribute("href", here);
    anchor.setAttribute("target", "_blank");
    anchor.setAttribute("rel", "noopener noreferrer");
    anchor.dataset.testid = `push-${action.action}`;
    actions.append(anchor);
  }
  item.append(heading, to, body, actions);
  return item;
}

function build() {
  const toggle = Object.assign(el("button", "mail-toggle", ["Phone"]), { type: "button" });
  toggle.dataset.testid = "phone-toggle";
  toggle.style.right = "320px"; // (left of the Mail pane's toggle)
  const list = el("div", "mail-list");
  const panel = Object.assign(el("section", "mail-pane", [
    el("header", "mail-header", [el("span", "", ["Phone (local push service)"])]),
    list,
  ]), { hidden: true });
  panel.dataset.testid = "phone-pane";
  let seen = "";
  async function refresh() {
    try {
      const answer = await fetch("/_control/phone", { cache: "no-store" });
      if (!answer.ok) return;
      const body = await answer.json();
      const now = JSON.stringify(body.pushes || []);
      if (now !== seen) {
        seen = now;
        const drawn = (body.pushes || []).map(drawPush);
        if (!drawn.length) {
          drawn.push(text("p", "mail-empty", "No push yet: turn notifications on at /app/push, then ask."));
        }
        list.replaceChildren(...drawn);
      }
    } catch {
      // dev stopping: the next poll tries again
    }
  }
  toggle.addEventListener("click", () => {
    panel.hidden = !panel.hidden;
    toggle.setAttribute("aria-pressed", String(!panel.hidden));
    if (!panel.hidden) refresh();
  });
  setInterval(() => { if (!panel.hidden) refresh(); }, POLL_MS);
  document.body.append(toggle, panel);
}

const waiting = setInterval(() => {
  if (hasPhone()) {
    clearInterval(waiting);
    build();
  } else if (window.devslack && window.devslack.state && window.devslack.state.version !== undefined) {
    clearInterval(waiting); // the state came without a phone: dev runs without --push
  }
}, 200);
