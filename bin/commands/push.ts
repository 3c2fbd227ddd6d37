/**
 * `hearth push FILE|DIR --name 'app{k=v}'`: uploads profiles through `/ingest`, one file or
 * every profile under a directory, found by content (pprof, JFR, folded), and reports what the
 * server accepted and what it refused, with its reason.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Progress } from './progress.ts';
import { call, parseCommand, reasonOf, remoteOf, UsageError, type Remote } from './remote.ts';
import { sniff, type ProfileFormat } from './sniff.ts';

export const PUSH_USAGE = `usage:
  hearth push FILE|DIR --name 'app{k=v}' [--from T] [--until T] [--sample-rate HZ] [--spy-name NAME] [--concurrency 4]
Uploads one profile, or every pprof (gzip or raw), JFR and folded file under DIR.
Shared flags: --url (default $HEARTH_URL or http://localhost:4040), --tenant (X-Scope-OrgID), --token (Bearer), --user/--password (basic auth).`;

/** Files above this are not read: far above any server's profile limit. */
const MAX_FILE_BYTES = 512 << 20;

export interface PushOutcome {
  file: string;
  format?: ProfileFormat;
  status: 'accepted' | 'refused' | 'skipped';
  /** The server's reason for a refusal, or why a file is not a profile. */
  reason?: string;
  httpStatus?: number;
}

function listFiles(root: string): string[] {
  const st = statSync(root, { throwIfNoEntry: false });
  if (!st) throw new UsageError(`${root}: no such file or directory`);
  if (!st.isDirectory()) return [root];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith('.')) continue;
      const p = join(dir, name);
      const s = statSync(p, { throwIfNoEntry: false });
      if (s?.isDirectory()) walk(p);
      else if (s?.isFile()) out.push(p);
    }
  };
  walk(root);
  return out;
}

interface IngestParams {
  name: string;
  from?: string;
  until?: string;
  sampleRate?: string;
  spyName?: string;
}

async function pushOne(remote: Remote, file: string, params: IngestParams, onRetry: (why: string) => void): Promise<PushOutcome> {
  const size = statSync(file).size;
  if (size > MAX_FILE_BYTES) return { file, status: 'skipped', reason: `larger than ${MAX_FILE_BYTES} bytes` };
  const s = sniff(readFileSync(file));
  if (!s.format) return { file, status: 'skipped', reason: s.reason };
  const q = new URLSearchParams({ name: params.name, format: s.format });
  if (params.from) q.set('from', params.from);
  if (params.until) q.set('until', params.until);
  if (params.sampleRate) q.set('sampleRate', params.sampleRate);
  if (params.spyName) q.set('spyName', params.spyName);
  const res = await call(remote, `/ingest?${q}`, {
    method: 'POST',
    body: s.body,
    headers: { 'Content-Type': 'application/octet-stream' },
    onRetry: (reason, ms) => onRetry(`${file}: ${reason}, retrying in ${(ms / 1000).toFixed(1)}s`),
  });
  if (res.ok) {
    await res.arrayBuffer();
    return { file, format: s.format, status: 'accepted', httpStatus: res.status };
  }
  return { file, format: s.format, status: 'refused', httpStatus: res.status, reason: await reasonOf(res) };
}

export async function run(args: string[]): Promise<void> {
  if (args.includes('--help') || args.includes('-h') || args[0] === 'help') {
    process.stdout.write(`${PUSH_USAGE}\n`);
    return;
  }
  const { values, positionals } = parseCommand(args, {
    name: { type: 'string' },
    from: { type: 'string' },
    until: { type: 'string' },
    'sample-rate': { type: 'string' },
    'spy-name': { type: 'string' },
    concurrency: { type: 'string' },
  });
  if (positionals.length === 0) throw new UsageError('expected a FILE or DIR to push');
  if (!values.name) throw new UsageError("--name is required, e.g. --name 'checkout{env=prod}'");
  const concurrency = Number(values.concurrency ?? 4);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new UsageError('--concurrency must be an integer from 1 to 64');
  const remote = remoteOf(values);
  const files = positionals.flatMap(listFiles);
  const params: IngestParams = { name: values.name, from: values.from, until: values.until, sampleRate: values['sample-rate'], spyName: values['spy-name'] };

  const progress = new Progress(files.length);
  const outcomes: PushOutcome[] = new Array(files.length);
  const counts = { accepted: 0, refused: 0, skipped: 0 };
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      const o = await pushOne(remote, files[i], params, (line) => progress.note(line)).catch(
        (err: Error): PushOutcome => ({ file: files[i], status: 'refused', reason: err.message }),
      );
      outcomes[i] = o;
      counts[o.status]++;
      const detail = o.status === 'accepted' ? `(${o.format})` : o.httpStatus ? `${o.httpStatus}: ${o.reason}` : `${o.reason}`;
      progress.step(`${o.status.padEnd(8)} ${o.file} ${detail}`, `accepted ${counts.accepted}, refused ${counts.refused}, skipped ${counts.skipped}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));
  progress.finish();
  process.stdout.write(summary(outcomes, positionals.length === 1 ? positionals[0] : '.'));
  if (counts.refused > 0 || counts.accepted === 0) process.exitCode = 1;
}

export function summary(outcomes: PushOutcome[], base: string): string {
  const name = (f: string) => relative(base, f) || f;
  const of = (s: PushOutcome['status']) => outcomes.filter((o) => o.status === s);
  const accepted = of('accepted');
  const refused = of('refused');
  const skipped = of('skipped');
  const lines = [`${outcomes.length} file${outcomes.length === 1 ? '' : 's'}: ${accepted.length} accepted, ${refused.length} refused, ${skipped.length} skipped`];
  if (accepted.length) {
    const byFormat = new Map<string, number>();
    for (const o of accepted) byFormat.set(o.format!, (byFormat.get(o.format!) ?? 0) + 1);
    lines.push(`accepted: ${[...byFormat].map(([f, n]) => `${n} ${f}`).join(', ')}`);
  }
  if (refused.length) lines.push('refused:', ...refused.map((o) => `  ${name(o.file)} (${o.format ?? '?'}): ${o.httpStatus ? `${o.httpStatus} ` : ''}${o.reason}`));
  if (skipped.length) lines.push('skipped (not a profile):', ...skipped.map((o) => `  ${name(o.file)}: ${o.reason}`));
  return lines.join('\n') + '\n';
}
