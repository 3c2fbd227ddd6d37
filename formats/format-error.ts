/**
 * The error every standalone decoder in formats/ throws for bad input. Decoders don't know
 * about HTTP; whoever calls them maps a FormatError to a client error (400).
 */
export class FormatError extends Error {
  constructor(
    /** The format being decoded, e.g. "jfr", "speedscope". */
    readonly format: string,
    message: string,
    /** The input exceeds a configured size limit (rather than being malformed). */
    readonly tooLarge = false,
  ) {
    super(`invalid ${format}: ${message}`);
    this.name = new.target.name;
  }
}
