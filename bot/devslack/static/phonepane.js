// The "Phone" pane (dev mode with --push): every push the local push service (bot/devpush/, served by dev at
// /_control/phone) received and decrypted, newest first, as a phone's notification shows it: the heading, the title,
// the agent, the summary and its Approve / Reject actions. A push's words are untrusted text: only ever set as
// textContent; an action becomes an <a> whose href (only a /push/... path) is set with setAttribute. An action opens
// the worker's confirm page through this page's own origin (the local Slack forwards /push to the worker), where the
// person signs in and decides with the page's POST, as the service worker's notificationclick opens it.
import { el } from "./blocks.js";
import { anchorTo, hereOf, paneWhen, text } from "./pane.js";

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
    const here = hereOf(action.url, "/push/");
    if (here) actions.append(anchorTo(here, action.title, `push-${action.action}`));
  }
  item.append(heading, to, body, actions);
  return item;
}

function drawPushes(list, body) {
  const drawn = (body.pushes || []).map(drawPush);
  if (!drawn.length) drawn.push(text("p", "mail-empty", "No push yet: turn notifications on at /app/push, then ask."));
  list.replaceChildren(...drawn);
}

paneWhen("phone", {
  label: "Phone", name: "phone", heading: "Phone (local push service)", path: "/_control/phone",
  right: "320px", // (left of the Mail pane's toggle)
  key: (body) => JSON.stringify(body.pushes || []),
  draw: drawPushes,
});
