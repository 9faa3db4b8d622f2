// Slack mrkdwn to DOM nodes. Never builds HTML from strings: every piece of text becomes a text node, so
// entity-escaped text (&lt;b&gt;) shows as "<b>" and can never turn into markup, a mention or a link.

const ENTITIES = { "&amp;": "&", "&lt;": "<", "&gt;": ">" };

// Every shortcode the bot writes (tests/devslack/test_page.py checks), and a few common ones. Unknown shortcodes
// stay as typed, like Slack without the emoji.
export const EMOJI = {
  white_check_mark: "\u2705",
  heavy_check_mark: "\u2714\ufe0f",
  x: "\u274c",
  pencil: "\ud83d\udcdd",
  pencil2: "\u270f\ufe0f",
  memo: "\ud83d\udcdd",
  hourglass: "\u231b",
  hourglass_flowing_sand: "\u23f3",
  inbox_tray: "\ud83d\udce5",
  arrows_counterclockwise: "\ud83d\udd04",
  gear: "\u2699\ufe0f",
  raised_hand: "\u270b",
  hand: "\u270b",
  warning: "\u26a0\ufe0f",
  no_entry_sign: "\ud83d\udeab",
  no_entry: "\u26d4",
  octagonal_sign: "\ud83d\uded1",
  robot_face: "\ud83e\udd16",
  wave: "\ud83d\udc4b",
  tada: "\ud83c\udf89",
  eyes: "\ud83d\udc40",
  rocket: "\ud83d\ude80",
  bell: "\ud83d\udd14",
  lock: "\ud83d\udd12",
  closed_lock_with_key: "\ud83d\udd10",
  mag: "\ud83d\udd0d",
  clock1: "\ud83d\udd50",
  stopwatch: "\u23f1\ufe0f",
  information_source: "\u2139\ufe0f",
  shield: "\ud83d\udee1\ufe0f",
  globe_with_meridians: "\ud83c\udf10",
  heavy_plus_sign: "\u2795",
  thumbsup: "\ud83d\udc4d",
  "+1": "\ud83d\udc4d",
  thumbsdown: "\ud83d\udc4e",
  "-1": "\ud83d\udc4e",
  speech_balloon: "\ud83d\udcac",
  email: "\ud83d\udce7",
  envelope: "\u2709\ufe0f",
  bulb: "\ud83d\udca1",
  red_circle: "\ud83d\udd34",
  large_green_circle: "\ud83d\udfe2",
  large_yellow_circle: "\ud83d\udfe1",
  jigsaw: "\ud83e\udde9",
  ticket: "\ud83c\udfab",
  outbox_tray: "\ud83d\udce4",
  parking: "\ud83c\udd7f\ufe0f",
  scissors: "\u2702\ufe0f",
  alarm_clock: "\u23f0",
  arrow_double_up: "\u23eb",
  busts_in_silhouette: "\ud83d\udc65",
};

const WORD = /[\p{L}\p{N}]/u;
const SAFE_URL = /^(https?:|mailto:)/i;

export function decodeEntities(text) {
  return text.replace(/&(?:amp|lt|gt);/g, (m) => ENTITIES[m]);
}

export function emojify(text) {
  return text.replace(/:([a-z0-9_+-]+):/g, (m, name) => EMOJI[name] || m);
}

function el(tag, className, children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const child of children || []) node.append(child);
  return node;
}

// Raw (still entity-escaped) text to a text node.
function textNode(raw) {
  return document.createTextNode(emojify(decodeEntities(raw)));
}

// <@U123>, <#C123|name>, <!here>, <!date^...|fallback>, <https://x|label>
function reference(inner, ctx) {
  const bar = inner.indexOf("|");
  const head = bar === -1 ? inner : inner.slice(0, bar);
  const label = bar === -1 ? "" : decodeEntities(inner.slice(bar + 1));
  if (head.startsWith("@")) {
    const id = head.slice(1);
    const name = ctx.userName(id) || label || id;
    const node = el("span", "mention", ["@" + name]);
    node.dataset.userId = id;
    if (id === ctx.me) node.classList.add("mention-me");
    return node;
  }
  if (head.startsWith("#")) {
    const id = head.slice(1);
    const name = ctx.channelName(id) || label || id;
    const node = el("a", "channel-link", ["#" + name]);
    node.href = "#" + encodeURIComponent(name);
    node.dataset.channelId = id;
    node.addEventListener("click", (event) => {
      event.preventDefault();
      ctx.openChannel(id);
    });
    return node;
  }
  if (head.startsWith("!")) {
    const word = head.slice(1).split("^")[0];
    if (word === "date") return document.createTextNode(label || head);
    if (word === "here" || word === "channel" || word === "everyone") return el("span", "mention", ["@" + word]);
    if (word === "subteam") return el("span", "mention", [label || "@group"]);
    return document.createTextNode(label || head);
  }
  const url = decodeEntities(head);
  if (SAFE_URL.test(url)) {
    const link = el("a", "link", [label || url]);
    link.href = url;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    return link;
  }
  return document.createTextNode(decodeEntities("<" + inner + ">"));
}

const STYLE_TAGS = { "*": "strong", _: "em", "~": "del" };

// Index of the marker closing the one at `start`, or -1. Slack's rules, roughly: the marker starts at a word
// boundary, the styled text neither starts nor ends with a space, and the closing marker ends at a word boundary.
function closingMarker(s, start) {
  const mark = s[start];
  if (start > 0 && WORD.test(s[start - 1])) return -1;
  const first = s[start + 1];
  if (first === undefined || first === mark || /\s/.test(first)) return -1;
  for (let j = start + 2; j < s.length; j++) {
    if (s[j] === "\n") return -1;
    if (s[j] !== mark || /\s/.test(s[j - 1])) continue;
    if (j + 1 < s.length && WORD.test(s[j + 1])) continue;
    return j;
  }
  return -1;
}

export function renderInline(s, ctx) {
  const out = [];
  let buffer = "";
  const flush = () => {
    if (buffer) out.push(textNode(buffer));
    buffer = "";
  };
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === "`") {
      const j = s.indexOf("`", i + 1);
      if (j > i + 1 && !s.slice(i + 1, j).includes("\n")) {
        flush();
        out.push(el("code", "", [decodeEntities(s.slice(i + 1, j))]));
        i = j + 1;
        continue;
      }
    }
    if (c === "<") {
      const j = s.indexOf(">", i + 1);
      const inner = j === -1 ? "" : s.slice(i + 1, j);
      if (inner && !inner.includes("<") && !inner.includes("\n")) {
        flush();
        out.push(reference(inner, ctx));
        i = j + 1;
        continue;
      }
    }
    if (c in STYLE_TAGS) {
      const j = closingMarker(s, i);
      if (j !== -1) {
        flush();
        out.push(el(STYLE_TAGS[c], "", renderInline(s.slice(i + 1, j), ctx)));
        i = j + 1;
        continue;
      }
    }
    buffer += c;
    i += 1;
  }
  flush();
  return out;
}

const QUOTE = /^(?:&gt;|>)\s?/;

// Lines: "> " (or "&gt; ", as Slack stores typed text) starts a quote; newlines are kept (CSS pre-wrap).
function renderLines(text, ctx, into) {
  const lines = text.split("\n");
  let quote = null;
  lines.forEach((line, index) => {
    const last = index === lines.length - 1;
    if (QUOTE.test(line)) {
      if (!quote) {
        quote = el("blockquote", "quote");
        into.append(quote);
      } else {
        quote.append("\n");
      }
      quote.append(...renderInline(line.replace(QUOTE, ""), ctx));
      return;
    }
    quote = null;
    into.append(...renderInline(line, ctx));
    if (!last && !QUOTE.test(lines[index + 1])) into.append("\n");
  });
}

// A mrkdwn string (as Slack stores it: &, < and > escaped) to a span of DOM nodes.
export function renderMrkdwn(text, ctx) {
  const root = el("span", "mrkdwn");
  const fence = /```([\s\S]*?)```/g;
  let at = 0;
  for (const match of text.matchAll(fence)) {
    if (match.index > at) renderLines(text.slice(at, match.index).replace(/\n$/, ""), ctx, root);
    root.append(el("pre", "pre", [decodeEntities(match[1].replace(/^\n/, ""))]));
    at = match.index + match[0].length;
  }
  const rest = text.slice(at);
  if (rest) renderLines(at > 0 ? rest.replace(/^\n/, "") : rest, ctx, root);
  return root;
}

// A plain_text object's text: shown exactly as given (emoji shortcodes become emoji when `emoji` is not false).
export function renderPlain(obj) {
  const text = String(obj.text ?? "");
  return el("span", "plain", [obj.emoji === false ? text : emojify(text)]);
}

export function renderText(obj, ctx) {
  if (!obj || typeof obj !== "object") return el("span", "plain", [""]);
  return obj.type === "mrkdwn" ? renderMrkdwn(String(obj.text ?? ""), ctx) : renderPlain(obj);
}
