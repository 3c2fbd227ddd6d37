/**
 * A file read at start and read again whenever it changes, for settings an operator edits while the
 * process runs (credentials, per-tenant values). A change that does not parse is logged and the
 * last good content stays in force, so a half-saved file never locks everyone out.
 */
import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from 'pino';

/** How often the file's metadata is polled. Polling also sees files replaced by rename, as editors and Kubernetes do. */
const POLL_MS = 1000;

export class WatchedFile<T> {
  readonly path: string;
  private value: T;
  private watching = false;

  /** Reads and parses the file now; throws when it cannot, so a broken file stops the start. */
  constructor(
    path: string,
    private readonly parse: (text: string) => T,
    private readonly logger: Logger,
    /** Called with each new value after a successful re-read. */
    private readonly onChange: (value: T) => void = () => {},
  ) {
    this.path = resolve(path);
    this.value = this.read();
  }

  get current(): T {
    return this.value;
  }

  watch(): void {
    if (this.watching) return;
    this.watching = true;
    watchFile(this.path, { interval: POLL_MS, persistent: false }, (now: Stats, before: Stats) => {
      if (now.mtimeMs === before.mtimeMs && now.size === before.size && now.ino === before.ino) return;
      this.reload();
    });
  }

  close(): void {
    if (!this.watching) return;
    this.watching = false;
    unwatchFile(this.path);
  }

  /** Re-reads now; keeps the last good value when the file is missing or does not parse. */
  reload(): void {
    try {
      this.value = this.read();
      this.logger.info({ file: this.path }, 'file changed: re-read');
      this.onChange(this.value);
    } catch (err) {
      this.logger.error({ file: this.path, err: (err as Error).message }, 'file changed but cannot be used; keeping the previous content');
    }
  }

  private read(): T {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      throw new Error(`cannot read ${this.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    try {
      return this.parse(text);
    } catch (err) {
      throw new Error(`${this.path}: ${(err as Error).message}`);
    }
  }
}
