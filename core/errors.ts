/**
 * Errors that carry the HTTP status a client should see. Anything else that escapes a
 * handler is a bug and becomes a 500.
 */
export class HearthError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Seconds, for retryable statuses (429, 503). */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The input is malformed: the client must not retry it unchanged. */
export class BadRequestError extends HearthError {
  constructor(message: string) {
    super(400, message);
  }
}

/**
 * A profile over the size limit once decompressed. Like Pyroscope's profile-size validation
 * this is a 400: the request itself was within the HTTP body limit (that one is a 413).
 */
export class ProfileTooLargeError extends BadRequestError {}

export class PayloadTooLargeError extends HearthError {
  constructor(message: string) {
    super(413, message);
  }
}

export class UnsupportedMediaTypeError extends HearthError {
  constructor(message: string) {
    super(415, message);
  }
}

/** A dependency (NATS, ClickHouse) is down or saturated; the client should retry later. */
export class UnavailableError extends HearthError {
  constructor(message: string, retryAfter = 1) {
    super(503, message, retryAfter);
  }
}

export class TooManyRequestsError extends HearthError {
  constructor(message: string, retryAfter = 1) {
    super(429, message, retryAfter);
  }
}

export function statusOf(err: unknown): number {
  return err instanceof HearthError ? err.status : 500;
}
