/**
 * Every shell example in every README.md of the repository that calls Hearth (curl against
 * localhost, or `hearth …`) runs, exactly as printed, against a Hearth started here. Only the
 * host:port is rewritten. A block fails when a command exits non-zero or an HTTP answer is a
 * 4xx or 5xx; a render answer must hold data (an example that lost its matcher returns an
 * empty flame graph). Blocks that start servers (`npm start`, `hearth start`) are not run.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { encodePprof } from '../../formats/pprof/index.ts';
import { singleNodeConfig, startHearth, tempDir, type HearthProcess } from '../support/hearth.ts';
import { hearthShellCommand, runProgram } from '../support/cli.ts';
import { goCpuProfile } from '../support/go-cpu-profile.ts';
import { CORPUS_SKIP, corpusFile } from '../support/corpus.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface Example {
  file: string;
  line: number;
  code: string;
}

function readmes(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) out.push(...readmes(p));
    else if (name === 'README.md') out.push(p);
  }
  return out;
}

const SHELL = new Set(['sh', 'bash', 'shell', 'zsh', 'console', '']);
const CALLS_HEARTH = /(https?:\/\/(localhost|127\.0\.0\.1):\d+)|(^|\n)\s*([A-Z_]+=\S+\s+)*hearth\s/;
const STARTS_SERVER = /\bnpm\s+start\b|\bhearth\s+start\b/;

/** The fenced shell blocks of a Markdown file that call Hearth and start no server. */
export function examplesOf(file: string): Example[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const out: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```\s*([A-Za-z]*)\s*$/.exec(lines[i]);
    if (!open) continue;
    let j = i + 1;
    while (j < lines.length && !/^```\s*$/.test(lines[j])) j++;
    const code = lines.slice(i + 1, j).join('\n');
    if (SHELL.has(open[1].toLowerCase()) && CALLS_HEARTH.test(code) && !STARTS_SERVER.test(code)) out.push({ file, line: i + 1, code });
    i = j;
  }
  return out;
}

/** The files an example reads: `@file` (curl), `base64 … file`, `hearth push PATH`. */
export function inputsOf(code: string): string[] {
  const found = new Set<string>();
  for (const m of code.matchAll(/(?:^|[\s=])@([^\s'"]+)/g)) found.add(m[1]);
  for (const m of code.matchAll(/\bbase64\s+(?:-\S+\s+)*([^\s)'"]+)/g)) found.add(m[1]);
  for (const m of code.matchAll(/\bhearth\s+push\s+([^\s'"-][^\s'"]*)/g)) found.add(m[1]);
  return [...found];
}

/** A Go SDK-like block profile: contentions and delay, as `-F profile=@block.pb.gz` sends it. */
function blockProfile(): Uint8Array {
  return encodePprof({
    sampleTypes: [
      { type: 'contentions', unit: 'count' },
      { type: 'delay', unit: 'nanoseconds' },
    ],
    periodType: { type: 'contentions', unit: 'count' },
    period: 1,
    timeNanos: BigInt(Date.now()) * 1_000_000n,
    durationNanos: 10_000_000_000n,
    names: ['', 'runtime.main', 'main.main', 'sync.(*Mutex).Lock', 'main.updateInventory'],
    stacks: [Uint32Array.from([3, 4, 2, 1])],
    samples: [{ stack: 0, values: [12, 4_500_000], labelSet: 0 }],
    sampleLabelSets: [{}],
  });
}

const FOLDED = 'main;serve;handleCheckout;json.Marshal 40\nmain;serve;handleCheckout 12\nmain;gc 7\n';
const FOLDED_STACKS = FOLDED.trim().split('\n').map((l) => ({ key: l.slice(0, l.lastIndexOf(' ')), value: Number(l.slice(l.lastIndexOf(' ') + 1)) }));

/** Pyroscope's trie upload format, flat: a root with one child per stack key. */
function trie(): Uint8Array {
  const bytes: number[] = [];
  const uvarint = (n: number) => {
    for (; n >= 0x80; n = Math.floor(n / 0x80)) bytes.push((n % 0x80) | 0x80);
    bytes.push(n);
  };
  uvarint(0);
  uvarint(0);
  uvarint(FOLDED_STACKS.length);
  for (const { key, value } of FOLDED_STACKS) {
    const k = Buffer.from(key);
    uvarint(k.length);
    bytes.push(...k);
    uvarint(value);
    uvarint(0);
  }
  return Uint8Array.from(bytes);
}

/** A sampled speedscope profile of the same stacks, 10 ms each. */
function speedscope(): string {
  const frames = [...new Set(FOLDED_STACKS.flatMap((s) => s.key.split(';')))];
  const samples = FOLDED_STACKS.map((s) => s.key.split(';').map((f) => frames.indexOf(f)));
  const weights = FOLDED_STACKS.map((s) => s.value * 10_000_000);
  return JSON.stringify({
    $schema: 'https://www.speedscope.app/file-format-schema.json',
    shared: { frames: frames.map((name) => ({ name })) },
    profiles: [{ type: 'sampled', name: 'checkout', unit: 'nanoseconds', startValue: 0, endValue: weights.reduce((a, b) => a + b, 0), samples, weights }],
  });
}

/**
 * Makes an input file (or directory) the way its name says; unknown names fail the test. Returns
 * why the example cannot run here, when it needs something only the shared corpus has.
 */
/** A JFR recording (and the Java agent's labels for it) cannot be made here without a JVM: a real pair comes from the corpus. */
function isJfrInput(ref: string): boolean {
  const base = ref.split('/').filter(Boolean).pop() ?? ref;
  return /\.jfr(\.gz)?$/.test(base) || /labels\.pb(\.gz)?$/.test(base);
}

/** Why an example cannot run on this machine, decided before its test starts; false when it can. */
function unavailable(code: string): string | false {
  if (!realCurl) return 'curl is not installed';
  const jfr = inputsOf(code).find(isJfrInput);
  if (jfr && CORPUS_SKIP) return `${jfr} comes from a JFR recording in the shared corpus: ${CORPUS_SKIP}`;
  return false;
}

export function provide(dir: string, ref: string): void {
  const path = join(dir, ref);
  if (existsSync(path)) return;
  mkdirSync(dirname(path), { recursive: true });
  const base = ref.split('/').filter(Boolean).pop() ?? ref;
  if (isJfrInput(ref)) {
    const data = corpusFile(base.includes('labels') ? 'grafana-jfr-parser/dump2.labels.pb.gz' : 'grafana-jfr-parser/dump2.jfr.gz');
    writeFileSync(path, base.endsWith('.gz') ? data : gunzipSync(data));
  } else if (base.endsWith('.trie')) writeFileSync(path, trie());
  else if (base.endsWith('.speedscope.json')) writeFileSync(path, speedscope());
  else if (base.endsWith('.folded')) writeFileSync(path, FOLDED);
  else if (/block/.test(base) && /\.(pb|pprof)(\.gz)?$/.test(base)) writeFileSync(path, base.endsWith('.gz') ? gzipSync(blockProfile()) : blockProfile());
  else if (/\.(pb|pprof)(\.gz)?$/.test(base)) writeFileSync(path, base.endsWith('.gz') ? gzipSync(goCpuProfile()) : goCpuProfile());
  else if (!/\.[a-z0-9]+$/i.test(base)) {
    // A directory of profiles, as `hearth push DIR` takes.
    mkdirSync(path, { recursive: true });
    writeFileSync(join(path, 'cpu.pb.gz'), gzipSync(goCpuProfile(Date.now() - 30_000)));
    writeFileSync(join(path, 'stacks.folded'), FOLDED);
  } else {
    throw new Error(`a README example reads ${ref}; teach test/e2e/readme-examples.test.ts how to make it`);
  }
}

const examples = readmes(root).flatMap(examplesOf);
const realCurl = spawnSync('sh', ['-c', 'command -v curl'], { encoding: 'utf8' }).stdout.trim();
const tmp = tempDir('hearth-readme-');
const bin = join(tmp.dir, 'bin');
const curlLog = join(tmp.dir, 'curl.log');
let hearth: HearthProcess;

before(async () => {
  if (!realCurl) return;
  mkdirSync(bin);
  // curl as printed, plus the check of `curl -f`: the status of the last answer is read from
  // the dumped headers, so the example's own output is untouched.
  writeFileSync(
    join(bin, 'curl'),
    `#!/bin/bash
headers=$(mktemp)
${JSON.stringify(realCurl)} -D "$headers" "$@"
rc=$?
status=$(grep -E '^HTTP/' "$headers" | tail -n 1 | awk '{print $2}')
rm -f "$headers"
echo "\${status:-none} $*" >> ${JSON.stringify(curlLog)}
[ $rc -ne 0 ] && exit $rc
if [ -z "$status" ] || [ "$status" -ge 400 ]; then echo "curl: the server answered HTTP \${status:-nothing}" >&2; exit 22; fi
exit 0
`,
  );
  writeFileSync(join(bin, 'hearth'), `#!/bin/sh\n${hearthShellCommand()}\n`);
  chmodSync(join(bin, 'curl'), 0o755);
  chmodSync(join(bin, 'hearth'), 0o755);
  hearth = await startHearth(singleNodeConfig(join(tmp.dir, 'data')), tmp.dir);
});
after(async () => {
  await hearth?.stop();
  tmp.remove();
});

test('README examples are found in every README of the repository', () => {
  const files = new Set(examples.map((e) => relative(root, e.file)));
  assert.ok(files.has('README.md'), 'the top-level README has examples');
  assert.ok(files.has('receivers/pyroscope/README.md'), 'the pyroscope receiver README has examples');
  assert.ok(examples.some((e) => /\bhearth\s+(push|query|sql|diff)\b/.test(e.code)), 'the CLI examples are among them');
});

/**
 * Runs one example as printed (host:port rewritten) and lists what went wrong, if anything; a
 * string when it cannot run here.
 */
async function problemsOf(code: string, workName: string): Promise<string[]> {
  const port = new URL(hearth.url).host;
  const printed = code.replace(/(https?:\/\/)(localhost|127\.0\.0\.1):\d+/g, `$1${port}`);
  // Each README gets its own working directory; its blocks run in order and share it.
  const cwd = join(tmp.dir, 'work', workName);
  mkdirSync(cwd, { recursive: true });
  for (const ref of inputsOf(printed)) provide(cwd, ref);
  const before = existsSync(curlLog) ? readFileSync(curlLog, 'utf8').split('\n').filter(Boolean).length : 0;
  const r = await runProgram('bash', ['-e', '-o', 'pipefail', '-c', printed], { cwd, env: { PATH: `${bin}:${process.env.PATH}`, HEARTH_URL: hearth.url } });
  const calls = existsSync(curlLog) ? readFileSync(curlLog, 'utf8').split('\n').filter(Boolean).slice(before) : [];
  const problems: string[] = [];
  if (r.status !== 0) problems.push(`exit ${r.status}:\n${printed}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}\n--- HTTP\n${calls.join('\n')}`);
  for (const call of calls) if (!/^[23]\d\d /.test(call)) problems.push(`HTTP ${call}`);
  // A flame graph answer must hold data: an example that lost its matcher shows nothing.
  for (const m of r.stdout.matchAll(/"numTicks":(\d+)/g)) if (Number(m[1]) === 0) problems.push(`an empty flame graph:\n${r.stdout.slice(0, 500)}`);
  return problems;
}

for (const ex of examples) {
  const name = `${relative(root, ex.file)}:${ex.line}`;
  test(`README example ${name} runs as printed`, { skip: unavailable(ex.code) }, async () => {
    const problems = await problemsOf(ex.code, relative(root, ex.file).replace(/[/.]/g, '_'));
    assert.deepEqual(problems, [], `${name}:\n${problems.join('\n')}`);
  });
}

test('the check fails the examples as they used to be printed', { skip: realCurl ? false : 'curl is not installed' }, async () => {
  // curl globbing {env=prod} away sends a name Hearth refuses.
  const glob = await problemsOf(`curl -X POST --data-binary @cpu.pprof 'http://localhost:4040/ingest?name=checkout{env=prod}&format=pprof'`, 'old');
  assert.ok(glob.some((p) => /^HTTP 4\d\d /m.test(p)), String(glob));
  // The render query without its matcher answers an empty flame graph.
  const render = await problemsOf(`curl 'http://localhost:4040/pyroscope/render?query=process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="checkout"}&from=now-1h'`, 'old');
  assert.ok(render.length > 0, 'the old render example must be caught');
});
