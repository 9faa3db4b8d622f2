// Block Kit to DOM nodes: the blocks and elements the bot uses, rendered the way Slack shows them.
import { renderPlain, renderText } from "./mrkdwn.js";

export function el(tag, className, children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const child of children || []) node.append(child);
  return node;
}

// ctx: { userName, channelName, openChannel, me,
//        button(element, block) -> Node   (buttons of messages, the Home and modals: the app binds the click),
//        values: {"block_id/action_id": value}, errors: {block_id: message} }  (modals only)
// A value is the text of a plain_text_input, the chosen option value (or null) of a radio_buttons / static_select,
// the list of chosen option values of a checkboxes / multi_static_select.
export function renderBlocks(blocks, ctx) {
  const root = el("div", "blocks");
  for (const block of Array.isArray(blocks) ? blocks : []) {
    const node = renderBlock(block, ctx);
    if (block.block_id) node.dataset.blockId = block.block_id;
    node.dataset.blockType = String(block.type);
    root.append(node);
  }
  return root;
}

function renderBlock(block, ctx) {
  switch (block.type) {
    case "header":
      return el("div", "block block-header", [renderPlain(block.text || { text: "" })]);
    case "section":
      return renderSection(block, ctx);
    case "context":
      return el(
        "div",
        "block block-context",
        (block.elements || []).map((item) =>
          item.type === "image" ? el("span", "context-image", [item.alt_text || ""]) : renderText(item, ctx),
        ),
      );
    case "divider":
      return el("hr", "block block-divider");
    case "actions":
      return el(
        "div",
        "block block-actions",
        (block.elements || []).map((element) => renderElement(element, block, ctx)),
      );
    case "input":
      return renderInput(block, ctx);
    case "image":
      return el("figure", "block block-image", [
        el("div", "image-placeholder", ["\ud83d\uddbc\ufe0f " + (block.alt_text || "image")]),
        ...(block.title ? [el("figcaption", "", [renderPlain(block.title)])] : []),
      ]);
    case "rich_text":
      return el("div", "block block-rich-text", [richTextToPlain(block)]);
    default:
      return el("div", "block block-unsupported", [`[${String(block.type)} block: not shown by the local Slack]`]);
  }
}

function renderSection(block, ctx) {
  const node = el("div", "block block-section");
  const main = el("div", "section-main");
  if (block.text) main.append(el("div", "section-text", [renderText(block.text, ctx)]));
  if (Array.isArray(block.fields) && block.fields.length) {
    main.append(el("div", "section-fields", block.fields.map((f) => el("div", "section-field", [renderText(f, ctx)]))));
  }
  node.append(main);
  if (block.accessory) node.append(el("div", "section-accessory", [renderElement(block.accessory, block, ctx)]));
  return node;
}

export function buttonNode(element) {
  const node = el("button", "sk-button", [renderPlain(element.text || { text: "" })]);
  node.type = "button";
  if (element.style === "primary") node.classList.add("sk-primary");
  if (element.style === "danger") node.classList.add("sk-danger");
  if (element.action_id) {
    node.dataset.testid = "button-" + element.action_id;
    node.dataset.actionId = element.action_id;
  }
  if (element.value !== undefined && element.value !== null) node.dataset.value = String(element.value);
  if (element.accessibility_label) node.setAttribute("aria-label", element.accessibility_label);
  return node;
}

function renderElement(element, block, ctx) {
  if (element.type === "button") return ctx.button ? ctx.button(element, block) : buttonNode(element);
  if (element.type === "image") return el("span", "context-image", [element.alt_text || ""]);
  return el("span", "element-unsupported", [`[${String(element.type)}]`]);
}

export function inputKey(blockId, actionId) {
  return `${blockId}/${actionId}`;
}

// Choice inputs: several options may be chosen (shown as checkboxes) or one (shown as radio buttons).
const MULTI_CHOICE = new Set(["checkboxes", "multi_static_select"]);
const SINGLE_CHOICE = new Set(["radio_buttons", "static_select"]);

function optionsOf(element) {
  const options = Array.isArray(element.options) ? [...element.options] : [];
  for (const group of Array.isArray(element.option_groups) ? element.option_groups : []) {
    options.push(...(Array.isArray(group.options) ? group.options : []));
  }
  return options.filter((option) => option && typeof option === "object");
}

function initialChoices(element, multi) {
  if (multi) return (Array.isArray(element.initial_options) ? element.initial_options : []).map((o) => o && o.value);
  return element.initial_option ? [element.initial_option.value] : [];
}

function renderChoices(element, block, ctx, blockId, actionId) {
  const multi = MULTI_CHOICE.has(element.type);
  const given = ctx.values ? ctx.values[inputKey(blockId, actionId)] : undefined;
  const chosen = given === undefined ? initialChoices(element, multi) : given === null ? [] : [].concat(given);
  const selected = new Set(chosen.map(String));
  const group = el("div", "input-choices");
  group.setAttribute("role", multi ? "group" : "radiogroup");
  group.dataset.testid = `input-${blockId}-${actionId}`;
  group.dataset.blockId = blockId;
  group.dataset.actionId = actionId;
  group.dataset.kind = multi ? "multi" : "single";
  group.dataset.optional = block.optional ? "true" : "false";
  optionsOf(element).forEach((option, index) => {
    const value = String(option.value);
    const input = document.createElement("input");
    input.type = multi ? "checkbox" : "radio";
    input.name = `choice-${blockId}-${actionId}`;
    input.value = value;
    input.checked = selected.has(value);
    input.id = `choice-${blockId}-${actionId}-${index}`;
    input.dataset.testid = "option-" + value;
    const text = el("span", "choice-text", [renderText(option.text || { type: "plain_text", text: value }, ctx)]);
    const label = el("label", "choice", [input, text]);
    label.htmlFor = input.id;
    if (option.description) label.append(el("span", "choice-description", [renderText(option.description, ctx)]));
    group.append(label);
  });
  return group;
}

// What a rendered input holds, in the shape /_control/submit_view takes (see the ctx comment above).
export function fieldValue(field) {
  if (field.classList.contains("input-choices")) {
    const checked = [...field.querySelectorAll("input:checked")].map((input) => input.value);
    return field.dataset.kind === "multi" ? checked : checked.length ? checked[0] : null;
  }
  return field.value;
}

// Every rendered input (text fields and choice groups) under root.
export function inputFields(root) {
  return [...root.querySelectorAll(".input-field, .input-choices")];
}

function renderInput(block, ctx) {
  const element = block.element || {};
  const blockId = String(block.block_id || "");
  const actionId = String(element.action_id || "");
  const key = inputKey(blockId, actionId);
  const node = el("div", "block block-input");
  const label = el("label", "input-label", [renderPlain(block.label || { text: "" })]);
  if (block.optional) label.append(el("span", "input-optional", [" (optional)"]));
  node.append(label);
  let field;
  if (element.type === "plain_text_input") {
    field = document.createElement(element.multiline ? "textarea" : "input");
    if (!element.multiline) field.type = "text";
    if (element.multiline) field.rows = 4;
    if (element.placeholder) field.placeholder = String(element.placeholder.text || "");
    if (Number.isInteger(element.max_length)) field.maxLength = element.max_length;
    const given = ctx.values ? ctx.values[key] : undefined;
    field.value = given !== undefined ? given : String(element.initial_value || "");
    field.className = "input-field";
    field.dataset.testid = `input-${blockId}-${actionId}`;
    field.dataset.blockId = blockId;
    field.dataset.actionId = actionId;
    field.dataset.optional = block.optional ? "true" : "false";
    if (Number.isInteger(element.min_length)) field.dataset.minLength = String(element.min_length);
    const id = "input-" + blockId + "-" + actionId;
    field.id = id;
    label.htmlFor = id;
  } else if (MULTI_CHOICE.has(element.type) || SINGLE_CHOICE.has(element.type)) {
    field = renderChoices(element, block, ctx, blockId, actionId);
  } else {
    field = el("div", "element-unsupported", [`[${String(element.type)} input: not supported by the local Slack]`]);
  }
  node.append(field);
  if (block.hint) node.append(el("div", "input-hint", [renderPlain(block.hint)]));
  const error = ctx.errors ? ctx.errors[blockId] : undefined;
  if (error) {
    node.classList.add("has-error");
    if (field.setAttribute) field.setAttribute("aria-invalid", "true");
    const message = el("div", "input-error", [String(error)]);
    message.dataset.testid = "input-error-" + blockId;
    node.append(message);
  }
  return node;
}

function richTextToPlain(node) {
  const parts = [];
  const walk = (item) => {
    if (!item || typeof item !== "object") return;
    if (typeof item.text === "string") parts.push(item.text);
    if (item.type === "user") parts.push("@" + item.user_id);
    if (item.type === "channel") parts.push("#" + item.channel_id);
    if (item.type === "link" && !item.text) parts.push(item.url || "");
    for (const child of item.elements || []) walk(child);
  };
  walk(node);
  return document.createTextNode(parts.join(""));
}
