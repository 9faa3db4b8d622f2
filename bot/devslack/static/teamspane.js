// The "Teams" pane (dev mode with --teams): the local Teams' page (bot/devteams/page.py, served by the Teams
// stand-in on its own port) framed beside the channel, so one approval is watched, and decided, on both surfaces.
// The local Slack only knows the page's URL (`teams_url` in its state); it shows nothing of Teams itself.
import { el } from "./blocks.js";

function teamsUrl() {
  const state = (window.devslack && window.devslack.state) || {};
  return state.teams_url || "";
}

function build(url) {
  const toggle = Object.assign(el("button", "teams-toggle", ["Teams"]), { type: "button" });
  toggle.dataset.testid = "teams-toggle";
  const frame = Object.assign(el("iframe", "teams-frame"), { src: url, title: "Local Teams" });
  frame.dataset.testid = "teams-frame";
  const open = Object.assign(el("a", "teams-open", ["Open in its own tab"]), { href: url, target: "_blank",
                                                                              rel: "noopener" });
  const panel = Object.assign(el("section", "teams-pane", [
    el("header", "teams-header", [el("span", "", ["Microsoft Teams (local)"]), open]),
    frame,
  ]), { hidden: true });
  panel.dataset.testid = "teams-pane";
  toggle.addEventListener("click", () => {
    panel.hidden = !panel.hidden;
    toggle.setAttribute("aria-pressed", String(!panel.hidden));
  });
  document.body.append(toggle, panel);
}

const waiting = setInterval(() => {
  const url = teamsUrl();
  if (url) {
    clearInterval(waiting);
    build(url);
  } else if (window.devslack && window.devslack.state && window.devslack.state.version !== undefined) {
    clearInterval(waiting); // the state came without a Teams: dev runs without --teams
  }
}, 200);
