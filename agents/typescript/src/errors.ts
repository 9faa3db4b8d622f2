/**
 * What the API refused, as a small tree of errors a program can act on (`agent_approvals.wire` in Python):
 * `ApprovalsError` and its kinds. Nothing of `fetch` gets past the client: no answer at all is `Unreachable`, one
 * line naming the URL. No error ever carries the API key.
 */

/** The API refused a request: its HTTP status, error code, message and the field at fault. */
export class ApprovalsError extends Error {
  override name = "ApprovalsError";
  readonly status: number;
  readonly code: string;
  readonly field: string;
  /** Seconds to wait before asking again (429). */
  readonly retryAfter: number;
  /** The message as the API said it (`message` adds the status and code). */
  readonly said: string;

  constructor(status: number, code: string, message: string, options: { field?: string; retryAfter?: number } = {}) {
    const field = options.field ?? "";
    super(`${status} ${code}: ${message}` + (field ? ` (field ${field})` : ""));
    this.status = status;
    this.code = code;
    this.said = message;
    this.field = field;
    this.retryAfter = options.retryAfter ?? 0;
  }
}

/**
 * No HTTP answer from the bot at `url` (nothing listens there, the name does not resolve, the connection was refused,
 * dropped or timed out, every try): `status` 0. One line, e.g. "the approvals bot at http://localhost:3000 is
 * unreachable (ECONNREFUSED): is it running, and is this its URL?".
 */
export class Unreachable extends ApprovalsError {
  override name = "Unreachable";
  readonly url: string;

  constructor(url: string, why: string) {
    const said = `the approvals bot at ${url} is unreachable (${why}): is it running, and is this its URL?`;
    super(0, "unreachable", said);
    this.message = said;
    this.url = url;
  }
}

/** 400: what was sent is wrong (`field` names it). */
export class InvalidRequest extends ApprovalsError {
  override name = "InvalidRequest";
}

/** 401: the key is missing, wrong or revoked (the message names the bot's URL, never the key). */
export class BadKey extends ApprovalsError {
  override name = "BadKey";
}

/** 403: the key may not ask in that channel, or the bot's policies refused the call (who and why in `message`). */
export class OutOfScope extends ApprovalsError {
  override name = "OutOfScope";
}

/** 404: no such approval of this key. */
export class NotFound extends ApprovalsError {
  override name = "NotFound";
}

/** 429: a limit of the key (requests per minute, approvals pending); `retryAfter` seconds. */
export class LimitReached extends ApprovalsError {
  override name = "LimitReached";
}

export const ERRORS: Readonly<Record<number, typeof ApprovalsError>> = {
  400: InvalidRequest,
  401: BadKey,
  403: OutOfScope,
  404: NotFound,
  429: LimitReached,
};
