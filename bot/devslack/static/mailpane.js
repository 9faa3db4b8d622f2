// The "Mail" pane (dev mode with --email): every inbox of the local mail catcher (bot/devmail/, served by dev at
// /_control/mail), each mail's subject and text part, and its Review-and-decide links. A mail is untrusted text: it
// is only ever set as textContent, and a link becomes an <a> whose href is set with setAttribute, never markup.
// A link opens the worker's /email/... page through this page's own origin (the local Slack forwards /email to the
// worker), so its sign-in and its cookies are the page's.
import { el } from "./blocks.js";

const POLL_MS = 1000;

function hasMail() {
  const state = (window.devslack && window.devslack.state) || {};
  return state.mail === true;
}

// The link's path and query on this page's origin (only http(s) links to /email/... are made links at all).
function hereOf(link) {
  let url;
  try {
    url = new URL(link);
  } catch {
    return null;
  }
  if (!/^https?:$/.test(url.protocol) || !url.pathname.startsWith("/email/")) return null;
  return url.pathname + url.search;
}

function text(tag, className, value) {
  const node = el(tag, className);
  node.textContent = String(value ?? "");
  return node;
}

function drawMail(mail) {
  const item = el("article", "mail-item");
  item.dataset.testid = "mail";
  const subject = text("div", "mail-subject", mail.subject);
  subject.dataset.testid = "mail-subject";
  const from = text("div", "mail-from", `From ${mail.sender}`);
  const body = text("pre", "mail-text", mail.text);
  body.dataset.testid = "mail-text";
  const links = el("div", "mail-links");
  for (const link of Array.isArray(mail.links) ? mail.links : []) {
    const here = hereOf(link);
    if (!here) continue;
    const anchor = text("a", "mail-link", "Review and decide");
    anchor.setAttribute("href", here);
    anchor.setAttribute("target", "_blank");
    anchor.setAttribute("rel", "noopener noreferrer");
    anchor.dataset.testid = "mail-link";
    links.append(anchor);
  }
  item.append(subject, from, links, body);
  return item;
}

function drawInboxes(list, inboxes) {
  const addresses = Object.keys(inboxes || {}).sort();
  const drawn = [];
  for (const address of addresses) {
    const mails = Array.isArray(inboxes[address]) ? inboxes[address] : [];
    const box = el("section", "mail-inbox");
    box.dataset.testid = "mail-inbox";
    box.dataset.address = address;
    box.append(text("h3", "mail-address", `${address} (${mails.length})`));
    for (const mail of mails.slice().reverse()) box.append(drawMail(mail)); // newest first
    drawn.push(box);
  }
  if (!drawn.length) drawn.push(text("p", "mail-empty", "No mail yet: an approval for an e-mail approver sends one."));
  list.replaceChildren(...drawn);
}

function build() {
  const toggle = Object.assign(el("button", "mail-toggle", ["Mail"]), { type: "button" });
  toggle.dataset.testid = "mail-toggle";
  const list = el("div", "mail-list");
  const panel = Object.assign(el("section", "mail-pane", [
    el("header", "mail-header", [el("span", "", ["Mail (local catcher)"])]),
    list,
  ]), { hidden: true });
  panel.dataset.testid = "mail-pane";
  let seen = "";
  async function refresh() {
    try {
      const answer = await fetch("/_control/mail", { cache: "no-store" });
      if (!answer.ok) return;
      const body = await answer.json();
      const now = JSON.stringify(body.inboxes || {});
      if (now !== seen) {
        seen = now;
        drawInboxes(list, body.inboxes);
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
  if (hasMail()) {
    clearInterval(waiting);
    build();
  } else if (window.devslack && window.devslack.state && window.devslack.state.version !== undefined) {
    clearInterval(waiting); // the state came without mail: dev runs without --email
  }
}, 200);
