/**
 * Progress of a multi-file command: a bar redrawn in place on a terminal, one plain line per
 * finished item otherwise (logs and pipes keep every line).
 */
export class Progress {
  private done = 0;
  private readonly tty: boolean;

  constructor(
    private readonly total: number,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = Boolean(out.isTTY);
  }

  /** One item finished; `line` says how. */
  step(line: string, counts: string): void {
    this.done++;
    if (!this.tty) {
      this.out.write(`${line}\n`);
      return;
    }
    const width = 30;
    const filled = this.total === 0 ? width : Math.round((this.done / this.total) * width);
    const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
    const columns = this.out.columns || 100;
    const text = `[${bar}] ${this.done}/${this.total} ${counts}`;
    this.out.write(`\r\x1b[K${text.slice(0, columns - 1)}`);
  }

  /** A note that is not a step (a retry): kept on its own line. */
  note(line: string): void {
    this.out.write(this.tty ? `\r\x1b[K${line}\n` : `${line}\n`);
  }

  finish(): void {
    if (this.tty) this.out.write('\r\x1b[K');
  }
}
