/**
 * The client's one boundary with HTTP (`fetch`): the bot's base URLs, each call retried across its workers, and what
 * comes back mapped to `ApprovalsError` and its kinds (`agent_approvals/wire.py` in Python, the same rules).
 *
 * A call is retried through connection errors and 502/503/504, on the next URL if several are given, for `retryFor`
 * seconds; but while no bot has answered this wire, a URL is tried only `FIRST_TRIES` times (nothing listening there
 * is a wrong URL or a bot not started, said at once). After the bot has answered, a refused connection is a restart or
 * a deploy, retried as above.
 *
 * Each call says the client and its version (`User-Agent: agent-approvals-js/0.1.0`, `X-Agent-Approvals-Client:
 * typescript/0.1.0`) and carries the caller's trace: the `traceparent` option's, else, with `@opentelemetry/api`
 * installed (an optional peer), the current span's.
 *
 * A call given an `AbortSignal` ends when it aborts: the request in flight is cancelled, no retry follows, and the
 * signal's `reason` is thrown (a `DOMException` named "AbortError" unless the signal was given another), as `fetch`
 * does.
 */

import { ApprovalsError, ERRORS, Unreachable } from "./errors.js";

export const RETRY_STATUSES: ReadonlySet<number> = new Set([502, 503, 504]);
export const FIRST_TRIES = 3;
export const API_PATH = "/api/v1";
/** The package's version (package.json's: tests/test_version.py checks they agree), said in each request. */
export const VERSION = "0.9.0-dev.0";
const USER_AGENT = `agent-approvals-js/${VERSION}`;
/** Which client asks, `name/version` (as the Python client's `python/…`): the bot's operators see it. */
export const CLIENT_HEADER = "X-Agent-Approvals-Client";
const OTEL_API = "@opentelemetry/api"; // an optional peer: the caller's current span, when it is installed

/** What the client reads of `@opentelemetry/api`: the active context's span. */
interface OtelApi {
  context: { active(): unknown };
  trace: {
    getSpan(context: unknown): { spanContext(): { traceId: string; spanId: string; traceFlags: number } } | undefined;
  };
}

let otel: Promise<(() => string | undefined) | undefined> | undefined;

/**
 * The `traceparent` of the caller's current OpenTelemetry span, read through `@opentelemetry/api` when it is installed
 * (once per process; `undefined` without it, or with no span active).
 */
export function otelTraceparent(): Promise<(() => string | undefined) | undefined> {
  otel ??= (import(OTEL_API) as Promise<OtelApi>).then(
    (api) => () => {
      const found = api.trace.getSpan(api.context.active())?.spanContext();
      if (found === undefined) return undefined;
      return `00-${found.traceId}-${found.spanId}-${(found.traceFlags & 0xff).toString(16).padStart(2, "0")}`;
    },
    () => undefined,
  );
  return otel;
}

/**
 * The bot's base URL as the client joins paths to it: without a trailing `/` or `/api/v1`, so
 * `https://approvals.example.com/api/v1/` and `https://approvals.example.com` are the same bot. A URL that is not
 * http(s) throws TypeError, saying so.
 */
export function baseUrl(url: string): string {
  let base = String(url).trim();
  const at = base.indexOf("://");
  const scheme = at < 0 ? "" : base.slice(0, at).toLowerCase();
  const rest = at < 0 ? "" : base.slice(at + 3);
  if ((scheme !== "http" && scheme !== "https") || !rest.replace(/\/+$/, "")) {
    throw new TypeError(`the bot's URL must start with http:// or https:// and name a host: ${JSON.stringify(url)}`);
  }
  base = base.replace(/\/+$/, "");
  if (base.toLowerCase().endsWith(API_PATH)) {
    base = base.slice(0, -API_PATH.length).replace(/\/+$/, "");
  }
  return base;
}

export interface CallOptions {
  body?: unknown;
  headers?: Record<string, string>;
  /** Seconds the server may hold the answer (a long-poll): the request's timeout is this plus 15 s. */
  holds?: number;
  /** Ends the call (in flight or between retries) when it aborts: its `reason` thrown. */
  signal?: AbortSignal | undefined;
}

export interface WireOptions {
  retryFor: number;
  fetch?: typeof fetch;
  traceparent?: () => string | undefined;
}

/** A W3C trace context's `traceparent` (version 00): what a call sends of its caller's trace. */
export const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

/** `ms` milliseconds, or the signal's reason thrown as soon as it aborts. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const aborted = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", aborted);
      resolve();
    }, ms);
    signal?.addEventListener("abort", aborted, { once: true });
  });
}

/** The HTTP side of one `ApprovalsClient`: its workers' base URLs, its key, its retries. */
export class Wire {
  readonly urls: string[];
  readonly #authorization: string; // (a # field: never shown by console.log or util.inspect)
  private readonly retryFor: number;
  private readonly fetch: typeof fetch;
  private readonly traceparent: (() => string | undefined) | undefined;
  private next = 0;
  private answered = false;

  constructor(urls: readonly string[], key: string, options: WireOptions) {
    this.urls = urls.map(baseUrl);
    if (this.urls.length === 0) {
      throw new TypeError("give the bot's URL (url, or AGENT_APPROVALS_URL)");
    }
    this.#authorization = `Bearer ${key}`;
    this.retryFor = options.retryFor;
    const fetcher = options.fetch ?? globalThis.fetch;
    this.fetch = (input, init) => fetcher(input, init);
    this.traceparent = options.traceparent;
  }

  /** One call's answer (a JSON object), retried as the module says; else an `ApprovalsError`. */
  async call(method: string, path: string, options: CallOptions = {}): Promise<Record<string, unknown>> {
    const giveUp = Date.now() + ((options.holds ?? 0) + this.retryFor) * 1000; // (a long-poll may be held that long)
    let delay = 200;
    let tries = 0;
    const headers: Record<string, string> = {
      Authorization: this.#authorization,
      "User-Agent": USER_AGENT,
      [CLIENT_HEADER]: `typescript/${VERSION}`,
      Accept: "application/json",
      ...options.headers,
    };
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    if (body !== undefined) headers["Content-Type"] = "application/json";
    // the caller's current trace (the option's, else its OpenTelemetry span's): the bot's spans go inside it
    const traceparent = this.traceparent ? this.traceparent() : (await otelTraceparent())?.();
    if (traceparent !== undefined && TRACEPARENT.test(traceparent)) headers.traceparent = traceparent;
    const timeout = ((options.holds ?? 0) + 15) * 1000;
    const signal = options.signal;
    for (;;) {
      signal?.throwIfAborted();
      const base = this.urls[this.next % this.urls.length] as string;
      let response: Response | undefined;
      let text = "";
      try {
        const limit = AbortSignal.timeout(timeout);
        const init: RequestInit = { method, headers, signal: signal ? AbortSignal.any([signal, limit]) : limit };
        if (body !== undefined) init.body = body;
        const got = await this.fetch(base + path, init);
        text = await got.text(); // (an answer cut short is no answer: retried as one)
        response = got;
      } catch (error) {
        signal?.throwIfAborted(); // the caller's abort: no retry, its reason
        tries += 1;
        if (Date.now() >= giveUp || (!this.answered && tries >= FIRST_TRIES * this.urls.length)) {
          throw new Unreachable(this.urls.join(", "), why(error), { cause: error });
        }
        this.next += 1; // another worker, if there is one
      }
      if (response !== undefined) {
        this.answered = true;
        const status = response.status;
        if (status >= 200 && status < 300) return answer(text, status, base, method, path);
        if (status < 400) throw notTheApi(status, base, method, path);
        if (!RETRY_STATUSES.has(status) || Date.now() >= giveUp) {
          throw refusal(response, text, base, method, path);
        }
        this.next += 1;
      }
      await pause(delay * (0.5 + Math.random() / 2), signal);
      delay = Math.min(delay * 2, 5000);
    }
  }
}

/** What went wrong with a try, in a few words on one line: "ECONNREFUSED", "TimeoutError", "bad port". */
export function why(error: unknown): string {
  let cause: unknown = error;
  let said = error instanceof Error ? error.message : String(error);
  for (let depth = 0; depth < 5 && cause instanceof Error; depth += 1) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === "string" && code) return code;
    if (cause.name === "TimeoutError" || cause.name === "AbortError") return cause.name;
    said = cause.message || said;
    cause = cause.cause;
  }
  return said.split(/\s+/).join(" ").slice(0, 160) || "no answer";
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function notTheApi(status: number, base: string, method: string, path: string): ApprovalsError {
  const Kind = ERRORS[status] ?? ApprovalsError;
  return new Kind(
    status,
    "not_the_api",
    `${base} answered ${method} ${path} with HTTP ${status}, not as the` +
      " Approvals API does: is it the bot's URL (its address, without /api/v1 or other paths)?",
  );
}

function answer(text: string, status: number, base: string, method: string, path: string): Record<string, unknown> {
  const body = parse(text);
  if (!isObject(body)) throw notTheApi(status, base, method, path);
  return body;
}

function refusal(response: Response, text: string, base: string, method: string, path: string): ApprovalsError {
  const status = response.status;
  const body = parse(text);
  let error = isObject(body) ? body["error"] : undefined;
  if (!isObject(error)) {
    if (status === 404 || status === 405) return notTheApi(status, base, method, path);
    error = {};
  }
  const said = error as Record<string, unknown>;
  const Kind = ERRORS[status] ?? ApprovalsError;
  const retryAfter = Number(response.headers.get("Retry-After") ?? 0);
  let message = String(said["message"] || text.slice(0, 200).split(/\s+/).join(" ").trim() || `HTTP ${status}`);
  if (status === 401) message += ` (the approvals bot at ${base})`;
  const options: { field?: string; retryAfter?: number } = { retryAfter: Number.isFinite(retryAfter) ? retryAfter : 0 };
  if (said["field"]) options.field = String(said["field"]);
  return new Kind(status, String(said["code"] || "error"), message, options);
}
