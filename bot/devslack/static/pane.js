// What the dev panes (mailpane.js, phonepane.js) share: a side pane behind a toggle that polls one /_control/...
// path while open and draws its answer only when it changed, untrusted words set only as textContent, and a link
// kept only as a path on this page's own origin (an <a> whose href is set with setAttribute, never markup).
import { el } from "./blocks.js";

const POLL_MS = 1000;

// An element of `tag` whose text is `value` (never markup).
export function text(tag, className, value) {
  const node = el(tag, className);
  node.textContent = String(value ?? "");
  return node;
}

// The link's path and query on this page's origin: only an http(s) link whose path starts with `prefix`, else null.
export function hereOf(link, prefix) {
  let url;
  try {
    url = new URL(link);
  } catch {
    return null;
  }
  if (!/^https?:$/.test(url.protocol) || !url.pathname.startsWith(prefix)) return null;
  return url.pathname + url.search;
}

// An <a> opening `here` (a path from hereOf) in a new tab, its words `label`.
export function anchorTo(here, label, testid) {
  const anchor = text("a", "mail-link", label);
  anchor.setAttribute("href", here);
  anchor.setAttribute("target", "_blank");
  anchor.setAttribute("rel", "noopener noreferrer");
  anchor.dataset.testid = testid;
  return anchor;
}

// The pane: a toggle `label` and a panel headed `heading`; while open, `path` is polled and `draw(list, body)` called
// when `key(body)` changed.
function build({ label, name, heading, path, key, draw, right }) {
  const toggle = Object.assign(el("button", "mail-toggle", [label]), { type: "button" });
  toggle.dataset.testid = `${name}-toggle`;
  if (right) toggle.style.right = right;
  const list = el("div", "mail-list");
  const panel = Object.assign(el("section", "mail-pane", [
    el("header", "mail-header", [el("span", "", [heading])]),
    list,
  ]), { hidden: true });
  panel.dataset.testid = `${name}-pane`;
  let seen = "";
  async function refresh() {
    try {
      const answer = await fetch(path, { cache: "no-store" });
      if (!answer.ok) return;
      const body = await answer.json();
      const now = key(body);
      if (now !== seen) {
        seen = now;
        draw(list, body);
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

// The pane built once dev's state says `flag` (dev runs with its option); none if the state came without it.
export function paneWhen(flag, options) {
  const waiting = setInterval(() => {
    const state = (window.devslack && window.devslack.state) || {};
    if (state[flag] === true) {
      clearInterval(waiting);
      build(options);
    } else if (state.version !== undefined) {
      clearInterval(waiting); // the state came without it: dev runs without the option
    }
  }, 200);
}
