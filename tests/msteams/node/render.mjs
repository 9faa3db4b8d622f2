// Parses and renders Adaptive Cards with the `adaptivecards` package (Microsoft's HTML renderer), on a jsdom
// document, Markdown read by markdown-it as Teams reads a TextBlock's (links found in bare addresses too).
// stdin: a JSON array of cards; stdout: a JSON array, per card, of
//   {events: [messages the parse's SerializationContext logged], failures: [validateProperties' messages],
//    html: the rendered card, with each Action.ShowCard's card rendered too, buttons: [the buttons' titles]}.
// Used by tests/teams/test_cards.py (`node render.mjs < cards.json`).
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { JSDOM } from "jsdom";
import MarkdownIt from "markdown-it";

const dom = new JSDOM("<!DOCTYPE html><html><body></body></html>", { pretendToBeVisual: true, url: "https://teams.invalid/" });
globalThis.window = dom.window;
for (const name of Object.getOwnPropertyNames(dom.window)) {
  // the DOM's names the renderer uses as globals (document, HTMLButtonElement, getComputedStyle, ...)
  if (!(name in globalThis) && !name.endsWith("Storage")) globalThis[name] = dom.window[name];
}

const require = createRequire(import.meta.url);
const AC = require("adaptivecards/dist/adaptivecards.js") // the UMD bundle (lib/ is ES modules without extensions);

const markdown = new MarkdownIt({ html: false, linkify: true });
AC.AdaptiveCard.onProcessMarkdown = (text, result) => {
  result.outputHtml = markdown.render(text);
  result.didProcess = true;
};

function render(payload) {
  const card = new AC.AdaptiveCard();
  const context = new AC.SerializationContext();
  card.parse(payload, context);
  const events = [];
  for (let i = 0; i < context.eventCount; i++) {
    const event = context.getEventAt(i);
    events.push(`${AC.ValidationEvent[event.event]}: ${event.message}`);
  }
  const failures = card.validateProperties().validationEvents.map(
    (event) => `${AC.ValidationEvent[event.event]}: ${event.message}`,
  );
  const element = card.render();
  const html = [element ? element.outerHTML : ""];
  for (let i = 0; i < card.getActionCount(); i++) {
    const action = card.getActionAt(i);
    if (action instanceof AC.ShowCardAction && action.card) {
      const shown = action.card.render();
      html.push(shown ? shown.outerHTML : "");
    }
  }
  const buttons = element
    ? Array.from(element.querySelectorAll("button")).map((button) => button.getAttribute("title") || button.textContent.trim())
    : [];
  return { events, failures, html: html.join("\n"), buttons };
}

const cards = JSON.parse(readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(cards.map(render)));
