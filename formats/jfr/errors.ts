import { FormatError } from '../format-error.ts';

/** Malformed, truncated or oversized JFR input. */
export class JfrError extends FormatError {
  constructor(message: string, tooLarge = false) {
    super('jfr', message, tooLarge);
  }
}

export function truncatedAt(pos: number, what: string): JfrError {
  return new JfrError(`truncated input: ${what} at byte ${pos} runs past the end of its chunk`);
}
