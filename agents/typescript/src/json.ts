/**
 * RFC 8785 canonical JSON (the arguments' digest, `args_sha256`), and the one strict JSON reader, kept for one use:
 * a receipt's header and claims. Everything else the package reads goes through `JSON.parse` (and jose's verify of a
 * receipt does too); this reader exists because `JSON.parse` hides two things the receipt contract refuses, as the
 * Python verifier does (`agent_approvals.jws`): a name repeated in an object (JSON.parse keeps the last, so a signed
 * receipt could say two `tool`s and each side read another), and a time written as a float (`1800000000.0`:
 * JSON.parse gives the integer, Python a float, which its verifier refuses). The shared vectors "a repeated claim",
 * "a repeated header name" and "iat a float" hold both sides to it.
 */

export class NotJson extends Error {
  override name = "NotJson";
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
const MAX_DEPTH = 512;

/** The value of `text`, and the names of its top-level members whose values are integer literals. */
export function strictJson(text: string): { value: unknown; integers: Set<string> } {
  let at = 0;
  const integers = new Set<string>();
  const space = (): void => {
    while (at < text.length && " \t\n\r".includes(text.charAt(at))) at += 1;
  };
  const fail = (what: string): never => {
    throw new NotJson(`${what} at ${at}`);
  };
  const string = (): string => {
    const start = at;
    at += 1;
    for (;;) {
      const c = text.charAt(at);
      if (c === "") fail("an unterminated string");
      if (c === '"') break;
      at += c === "\\" ? 2 : 1;
    }
    at += 1;
    try {
      return JSON.parse(text.slice(start, at)) as string;
    } catch {
      return fail("a bad string");
    }
  };
  const value = (depth: number, top: boolean): unknown => {
    if (depth > MAX_DEPTH) fail("too deep");
    space();
    const c = text.charAt(at);
    if (c === "{") return object(depth, top);
    if (c === "[") {
      at += 1;
      const items: unknown[] = [];
      space();
      if (text.charAt(at) === "]") {
        at += 1;
        return items;
      }
      for (;;) {
        items.push(value(depth + 1, false));
        space();
        const next = text.charAt(at);
        at += 1;
        if (next === "]") return items;
        if (next !== ",") fail("a missing , or ]");
      }
    }
    if (c === '"') return string();
    for (const [word, meant] of [
      ["true", true],
      ["false", false],
      ["null", null],
    ] as const) {
      if (text.startsWith(word, at)) {
        at += word.length;
        return meant;
      }
    }
    NUMBER.lastIndex = at;
    const number = NUMBER.exec(text);
    if (number === null) return fail("not a JSON value");
    at += number[0].length;
    return Number(number[0]);
  };
  const object = (depth: number, top: boolean): Record<string, unknown> => {
    at += 1;
    const made: Record<string, unknown> = {};
    const seen = new Set<string>();
    space();
    if (text.charAt(at) === "}") {
      at += 1;
      return made;
    }
    for (;;) {
      space();
      if (text.charAt(at) !== '"') fail("a name expected");
      const name = string();
      if (seen.has(name)) fail("a name repeated");
      seen.add(name);
      space();
      if (text.charAt(at) !== ":") fail("a missing :");
      at += 1;
      space();
      const start = at;
      const member = value(depth + 1, false);
      if (top && typeof member === "number" && /^-?[0-9]+$/.test(text.slice(start, at))) integers.add(name);
      Object.defineProperty(made, name, { value: member, enumerable: true, writable: true, configurable: true });
      space();
      const next = text.charAt(at);
      at += 1;
      if (next === "}") return made;
      if (next !== ",") fail("a missing , or }");
    }
  };
  const parsed = value(0, true);
  space();
  if (at !== text.length) fail("text after the value");
  return { value: parsed, integers };
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** RFC 8785 (JCS) canonical JSON of `value`; NotJson for what JSON cannot say (NaN, a function, a lone surrogate). */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === "boolean") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new NotJson("NaN and Infinity are not JSON");
    return JSON.stringify(value); // ECMAScript's number form is RFC 8785's (and -0 is 0)
  }
  if (typeof value === "string") {
    if (LONE_SURROGATE.test(value)) throw new NotJson("a string with a lone surrogate is not JSON");
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object") {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) throw new NotJson("only plain objects are JSON objects");
    const members = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    members.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)); // UTF-16 code units, as RFC 8785 sorts
    return `{${members.map(([k, v]) => `${canonicalJson(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  throw new NotJson(`a ${typeof value} is not JSON`);
}
