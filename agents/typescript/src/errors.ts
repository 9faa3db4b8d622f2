/**
 * What the API refused, as a small tree of errors a program can act on (`agent_approvals.wire` in Python):
 * `ApprovalsError` and its kinds. Nothing of `fetch` gets past the client: no answer at all is `Unreachable`, one
 * line naming the URL, what `fetch` threw kept as its `cause`. No error ever carries the API key.
 *
 * `X.isInstance(error)` (as the AI SDK's errors have it) is true for an `X` made by any copy of this package (two
 * versions in one program's node_modules, where `instanceof` says false): each error carries the kinds it is, under
 * a symbol of the global registry.
 */

const KINDS = Symbol.for("agent-approvals.error-kinds");

/** A class of this package's errors: its `kind` (its name, kept through minifiers) and its instances' type. */
interface Kind<E> {
  readonly kind: string;
  prototype: E;
}

/** Mark `error` with the kinds of `made` (its class) and of each class it extends (not enumerable). */
export function markKinds(error: Error, made: unknown): void {
  const kinds: string[] = [];
  for (let at = made; typeof at === "function"; at = Object.getPrototypeOf(at) as unknown) {
    if (Object.hasOwn(at, "kind")) kinds.push(String((at as unknown as { kind: unknown }).kind));
  }
  Object.defineProperty(error, KINDS, { value: Object.freeze(kinds), enumerable: false });
}

/** Whether `error` is an error of this package of `kind` (or of a kind that extends it), from any copy of it. */
export function isKind(error: unknown, kind: string): boolean {
  if (typeof error !== "object" || error === null) return false;
  const kinds = (error as { [KINDS]?: unknown })[KINDS];
  return Array.isArray(kinds) && kinds.includes(kind);
}

/** The API refused a request: its HTTP status, error code, message and the field at fault. */
export class ApprovalsError extends Error {
  static readonly kind: string = "ApprovalsError";
  override name = "ApprovalsError";
  readonly status: number;
  readonly code: string;
  readonly field: string;
  /** Seconds to wait before asking again (429). */
  readonly retryAfter: number;
  /** The message as the API said it (`message` adds the status and code). */
  readonly said: string;

  constructor(
    status: number,
    code: string,
    message: string,
    options: { field?: string; retryAfter?: number; cause?: unknown } = {},
  ) {
    const field = options.field ?? "";
    super(
      `${status} ${code}: ${message}` + (field ? ` (field ${field})` : ""),
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    markKinds(this, new.target);
    this.status = status;
    this.code = code;
    this.said = message;
    this.field = field;
    this.retryAfter = options.retryAfter ?? 0;
  }

  /** Whether `error` is one of these, made by any copy of this package (see the module's comment). */
  static isInstance<E>(this: Kind<E>, error: unknown): error is E {
    return isKind(error, this.kind);
  }
}

/**
 * No HTTP answer from the bot at `url` (nothing listens there, the name does not resolve, the connection was refused,
 * dropped or timed out, every try): `status` 0. One line, e.g. "the approvals bot at http://localhost:3000 is
 * unreachable (ECONNREFUSED): is it running, and is this its URL?".
 */
export class Unreachable extends ApprovalsError {
  static override readonly kind: string = "Unreachable";
  override name = "Unreachable";
  readonly url: string;

  /** `cause`: what the last try threw (`fetch`'s TypeError, its own `cause` the socket's error). */
  constructor(url: string, why: string, options: { cause?: unknown } = {}) {
    const said = `the approvals bot at ${url} is unreachable (${why}): is it running, and is this its URL?`;
    super(0, "unreachable", said, options);
    this.message = said;
    this.url = url;
  }
}

/** 400: what was sent is wrong (`field` names it). */
export class InvalidRequest extends ApprovalsError {
  static override readonly kind: string = "InvalidRequest";
  override name = "InvalidRequest";
}

/** 401: the key is missing, wrong or revoked (the message names the bot's URL, never the key). */
export class BadKey extends ApprovalsError {
  static override readonly kind: string = "BadKey";
  override name = "BadKey";
}

/** 403: the key may not ask in that channel, or the bot's policies refused the call (who and why in `message`). */
export class OutOfScope extends ApprovalsError {
  static override readonly kind: string = "OutOfScope";
  override name = "OutOfScope";
}

/** 404: no such approval of this key. */
export class NotFound extends ApprovalsError {
  static override readonly kind: string = "NotFound";
  override name = "NotFound";
}

/** 429: a limit of the key (requests per minute, approvals pending); `retryAfter` seconds. */
export class LimitReached extends ApprovalsError {
  static override readonly kind: string = "LimitReached";
  override name = "LimitReached";
}

export const ERRORS: Readonly<Record<number, typeof ApprovalsError>> = {
  400: InvalidRequest,
  401: BadKey,
  403: OutOfScope,
  404: NotFound,
  429: LimitReached,
};
