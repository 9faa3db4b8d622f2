// The "Mail" pane (dev mode with --email): every inbox of the local mail catcher (bot/devmail/, served by dev at
// /_control/mail), each mail's subject and text part, and its Review-and-decide links. A mail is untrusted text: it
// is only ever set as textContent, and a link becomes an <a> whose href is set with setAttribute, never markup.
// A link opens the worker's /email/... page through this page's own origin (the local Slack forwards /email to the
// worker), so its sign-in and its cookies are the page's.
import { el } from "./blocks.js";
import { anchorTo, hereOf, paneWhen, text } from "./pane.js";

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
    const here = hereOf(link, "/email/"); // (only http(s) links to /email/... are made links at all)
    if (here) links.append(anchorTo(here, "Review and decide", "mail-link"));
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

paneWhen("mail", {
  label: "Mail", name: "mail", heading: "Mail (local catcher)", path: "/_control/mail",
  key: (body) => JSON.stringify(body.inboxes || {}),
  draw: (list, body) => drawInboxes(list, body.inboxes),
});
