/**
 * A refusal by a per-tenant limit. The message starts with the limit's name, so a client (and
 * whoever reads its logs) knows which override to ask for.
 */
import { HearthError } from '../errors.ts';

export class LimitExceededError extends HearthError {
  constructor(
    status: 400 | 413 | 422 | 429,
    readonly limit: string,
    detail: string,
    retryAfter?: number,
  ) {
    super(status, `${limit} exceeded: ${detail}`, retryAfter);
  }
}
