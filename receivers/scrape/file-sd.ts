/**
 * File-based service discovery, as Prometheus' `file_sd_configs`: YAML or JSON files (globs in
 * the file name) listing target groups. Files are read again when they change (a directory
 * watch) and every refresh_interval, since watches miss changes on some filesystems.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { Labels } from '../../core/model.ts';
import type { FileSdConfig } from './config.ts';

export interface TargetGroup {
  /** Where the group came from, e.g. `static/0` or a file path and index. */
  source: string;
  targets: string[];
  labels: Labels;
}

/** Guards what a file may hold before any of it is used. */
const MAX_SD_FILE_BYTES = 16 * 1024 * 1024;

const groupsSchema = z.array(
  z.strictObject({
    targets: z.array(z.string().min(1)),
    labels: z.record(z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'must be a valid label name'), z.string()).optional(),
  }),
);

function globToRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*');
  return new RegExp(`^${body}$`);
}

/** Parses one discovery file's text; throws an Error saying what is wrong. */
export function parseTargetGroups(text: string, path: string): TargetGroup[] {
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`);
  }
  // An empty file lists no targets.
  if (data === null || data === undefined) return [];
  const parsed = groupsSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${path}: ${issue.path.join('.') || '(top level)'}: ${issue.message}`);
  }
  return parsed.data.map((g, i) => ({
    source: `${path}:${i}`,
    targets: g.targets,
    labels: { ...(g.labels ?? {}), __meta_filepath: path },
  }));
}

export class FileDiscovery {
  private readonly patterns: { dir: string; name: RegExp }[];
  /** Last good content of each file: a file that became unreadable keeps its targets. */
  private readonly byFile = new Map<string, TargetGroup[]>();
  private readonly watchers: FSWatcher[] = [];
  private timer?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  private refreshing: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly config: FileSdConfig,
    private readonly logger: Logger,
    private readonly onChange: () => void,
  ) {
    this.patterns = config.files.map((f) => {
      const abs = resolve(f);
      return { dir: dirname(abs), name: globToRegExp(basename(abs)) };
    });
  }

  groups(): TargetGroup[] {
    return [...this.byFile.keys()].sort().flatMap((f) => this.byFile.get(f)!);
  }

  async start(): Promise<void> {
    await this.refresh();
    for (const dir of new Set(this.patterns.map((p) => p.dir))) {
      try {
        // The directory, not the files: editors replace files by renaming, and new files appear.
        const w = watch(dir, () => this.scheduleRefresh());
        w.on('error', (err) => this.logger.warn({ dir, err: err.message }, 'file_sd: watch failed; relying on refresh_interval'));
        this.watchers.push(w);
      } catch (err) {
        this.logger.warn({ dir, err: (err as Error).message }, 'file_sd: cannot watch directory; relying on refresh_interval');
      }
    }
    this.timer = setInterval(() => this.scheduleRefresh(), this.config.refresh_interval_ms);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    for (const w of this.watchers) w.close();
    clearInterval(this.timer);
    clearTimeout(this.debounce);
  }

  private scheduleRefresh(): void {
    if (this.stopped) return;
    // A save is often several events (truncate, write, rename); read once they settle.
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.refreshing = this.refreshing.then(() => this.refresh());
    }, 100);
  }

  private async matchingFiles(): Promise<string[]> {
    const files = new Set<string>();
    for (const p of this.patterns) {
      let names: string[];
      try {
        names = await readdir(p.dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          this.logger.warn({ dir: p.dir, err: (err as Error).message }, 'file_sd: cannot list directory');
        }
        continue;
      }
      for (const n of names) if (p.name.test(n)) files.add(join(p.dir, n));
    }
    return [...files];
  }

  private async refresh(): Promise<void> {
    if (this.stopped) return;
    const files = await this.matchingFiles();
    const before = JSON.stringify(this.groups());
    for (const f of [...this.byFile.keys()]) if (!files.includes(f)) this.byFile.delete(f);
    for (const f of files) {
      try {
        const buf = await readFile(f);
        if (buf.length > MAX_SD_FILE_BYTES) throw new Error(`${f}: larger than ${MAX_SD_FILE_BYTES} bytes`);
        this.byFile.set(f, parseTargetGroups(buf.toString('utf8'), f));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          this.byFile.delete(f);
          continue;
        }
        this.logger.error({ file: f, err: (err as Error).message }, 'file_sd: cannot read targets; keeping the previous ones');
      }
    }
    if (!this.stopped && JSON.stringify(this.groups()) !== before) this.onChange();
  }
}
