/**
 * The ebpf receiver's pieces that need no privileges: reading bpftrace's JSON output, naming
 * frames (ELF symbols checked against `nm`, perf maps, module+offset fallbacks), and process
 * discovery from /proc.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseOutputLine, parseKey } from '../../receivers/ebpf/bpftrace-output.ts';
import { samplingProgram } from '../../receivers/ebpf/bpftrace-program.ts';
import { cgroupPath, containerIdOf, ProcessDiscovery } from '../../receivers/ebpf/discovery.ts';
import { readElfSymbols } from '../../receivers/ebpf/elf-symbols.ts';
import { KERNEL_PREFIX, Symbolizer, type ProcFs } from '../../receivers/ebpf/symbols.ts';
import { tempDir } from '../support/hearth.ts';

const tmp = tempDir('hearth-ebpf-sym-');
after(() => tmp.remove());
const hasGcc = spawnSync('gcc', ['--version'], { stdio: 'ignore' }).status === 0;

// Lines as bpftrace 0.17 prints them with `-f json` and perf-mode stacks.
const LINE =
  '{"type": "map", "data": {"@stacks_a": {' +
  '"12951,\\n\\tffffffff821f5b65 irqentry_exit_to_user_mode+261\\n\\tffffffff81000e06 asm_sysvec_apic_timer_interrupt+22\\n,' +
  '\\n\\t55aa659b815d 0x55aa659b815d ([unknown])\\n\\t7fc615b2624a __libc_start_call_main+122 (/usr/lib/x86_64-linux-gnu/libc.so.6)\\n,my, odd)comm": 3, ' +
  '"77,,\\n\\t55aa659b814c 0x55aa659b814c ([unknown])\\n,node": 91, ' +
  '"78,,,": 2, ' +
  '"garbage": 1}}}';

test('a printed map becomes stacks per process; commas and parens in comm and symbols do not confuse it', () => {
  const ev = parseOutputLine(LINE);
  assert.equal(ev.kind, 'stacks');
  if (ev.kind !== 'stacks') return;
  assert.equal(ev.malformed, 1);
  assert.equal(ev.stacks.length, 3);
  const [a, b, c] = ev.stacks;
  assert.equal(a.pid, 12951);
  assert.equal(a.comm, 'my, odd)comm');
  assert.equal(a.count, 3);
  assert.deepEqual(a.kernel.map((f) => f.symbol), ['irqentry_exit_to_user_mode', 'asm_sysvec_apic_timer_interrupt']);
  assert.deepEqual(a.user.map((f) => [f.address.toString(16), f.symbol, f.module]), [
    ['55aa659b815d', '', ''],
    ['7fc615b2624a', '__libc_start_call_main', '/usr/lib/x86_64-linux-gnu/libc.so.6'],
  ]);
  assert.equal(b.pid, 77);
  assert.equal(b.kernel.length, 0);
  assert.equal(b.user.length, 1);
  // A sample whose stacks could not be walked is kept, with no frames.
  assert.deepEqual([c.pid, c.kernel.length, c.user.length, c.comm, c.count], [78, 0, 0, '', 2]);
  assert.deepEqual(parseOutputLine('{"type": "attached_probes", "data": {"probes": 2}}'), { kind: 'attached', probes: 2 });
  assert.equal(parseOutputLine('{"type": "map", "data": {"@phase": 1}}').kind, 'other');
  assert.equal(parseOutputLine('not json').kind, 'error');
  assert.equal(parseKey('x,,,'), undefined);
});

test('the program keys maps as the parser reads them, and leaves kernel stacks out when asked', () => {
  const p = samplingProgram({ sampleRate: 97, collectIntervalMs: 15_000, collectKernel: true });
  assert.match(p, /profile:hz:97 \/pid != 0\//);
  assert.match(p, /@stacks_a\[pid, kstack\(perf\), ustack\(perf\), comm\]/);
  assert.match(p, /interval:ms:15000/);
  assert.doesNotMatch(samplingProgram({ sampleRate: 19, collectIntervalMs: 1000, collectKernel: false }), /kstack/);
});

test('ELF symbols agree with nm, and frames are named through the process mappings', { skip: !hasGcc && 'gcc is not installed' }, async () => {
  const src = join(tmp.dir, 'sym.c');
  const exe = join(tmp.dir, 'symprog');
  writeFileSync(src, 'void __attribute__((noinline)) alpha(void){ for(;;); }\nint main(void){ alpha(); return 0; }\n');
  assert.equal(spawnSync('gcc', ['-O1', '-o', exe, src]).status, 0);
  const nm = spawnSync('nm', ['--defined-only', exe], { encoding: 'utf8' }).stdout;
  const alphaVaddr = Number.parseInt(/^([0-9a-f]+) T alpha$/m.exec(nm)![1], 16);
  // Where the text segment sits in the file, from the program headers, as a loader sees it.
  const syms = readElfSymbols(exe);
  assert.ok(syms.size >= 2);
  const child = spawn(exe, [], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 200));
    const maps = spawnSync('cat', [`/proc/${child.pid}/maps`], { encoding: 'utf8' }).stdout;
    const base = BigInt(`0x${maps.split('\n').find((l) => l.endsWith(exe))!.split('-')[0]}`);
    // For a PIE, the first mapping (file offset 0) is loaded at `base`, and file offsets equal virtual addresses for the text.
    const address = base + BigInt(alphaVaddr) + 1n;
    const namer = new Symbolizer().namer(child.pid!);
    assert.equal(namer.user({ address, symbol: '', module: '' }), 'alpha');
    assert.equal(namer.kernel({ address: 0xffffffff81000e06n, symbol: 'asm_sysvec_apic_timer_interrupt', module: '' }), `${KERNEL_PREFIX}asm_sysvec_apic_timer_interrupt`);
  } finally {
    child.kill('SIGKILL');
  }
});

test('JIT frames come from the perf map; unknown code keeps its module and offset, or its address', () => {
  const files: Record<string, string> = {
    '/proc/4242/maps': [
      '555500000000-555500001000 r--p 00000000 fe:00 11 /opt/app/bin/stripped',
      '555500001000-555500002000 r-xp 00001000 fe:00 11 /opt/app/bin/stripped',
      '7f0000000000-7f0000100000 rwxp 00000000 00:00 0 ',
    ].join('\n'),
    '/proc/4242/status': 'Name:\tnode\nNSpid:\t4242\t17\n',
    '/proc/4242/root/tmp/perf-17.map': '7f0000000100 40 JS:*oldName app.js:1\n7f0000000100 40 JS:*hotLoop app.js:3\n7f0000000200 10 LazyCompile:other\n',
  };
  const fs: ProcFs = { read: (p) => files[p] };
  const namer = new Symbolizer(fs).namer(4242);
  assert.equal(namer.user({ address: 0x7f0000000120n, symbol: '', module: '' }), 'JS:*hotLoop app.js:3');
  assert.equal(namer.user({ address: 0x555500001234n, symbol: '', module: '' }), 'stripped+0x1234');
  assert.equal(namer.user({ address: 0x7f0000000500n, symbol: '', module: '' }), '0x7f0000000500');
  assert.equal(namer.user({ address: 0x10n, symbol: 'named_by_bpftrace', module: '' }), 'named_by_bpftrace');
});

test('discovery reads the running process and names containers from the cgroup path', () => {
  const d = new ProcessDiscovery();
  const me = d.lookup(process.pid, 'x');
  assert.equal(me.exe, process.execPath);
  assert.equal(me.pid, process.pid);
  assert.ok(me.comm.length > 0);
  const gone = d.lookup(2 ** 22 + 7, 'ghost');
  assert.deepEqual([gone.exe, gone.comm], ['', 'ghost']);
  const id = 'a'.repeat(64);
  assert.equal(cgroupPath(`0::/system.slice/docker-${id}.scope\n`), `/system.slice/docker-${id}.scope`);
  assert.equal(containerIdOf(`/system.slice/docker-${id}.scope`), id);
  assert.equal(containerIdOf(`/kubepods/burstable/pod1/cri-containerd-${id}.scope`), id);
  assert.equal(cgroupPath('4:memory:/process_api/abc\n1:cpu:/\n0::/\n'), '/process_api/abc');
  assert.equal(containerIdOf('/process_api/abc'), '');
});
