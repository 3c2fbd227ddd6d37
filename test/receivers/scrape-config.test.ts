/**
 * The scrape receiver's config and target building, without any network: defaults as Parca and
 * Alloy have them, clear errors, and the labels and URLs that targets end up with.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRules } from '../../core/relabel/rules.ts';
import { parseDuration, formatDuration } from '../../core/duration.ts';
import { factory } from '../../receivers/scrape/index.ts';
import type { ScrapeConfig } from '../../receivers/scrape/config.ts';
import { parseTargetGroups } from '../../receivers/scrape/file-sd.ts';
import { buildTargets } from '../../receivers/scrape/targets.ts';
import { scrapeOffsetMs } from '../../receivers/scrape/loop.ts';

function parse(block: unknown) {
  return factory.schema.safeParse({ ...factory.defaultConfig(), ...(block as object) });
}

function job(extra: Record<string, unknown> = {}): ScrapeConfig {
  const r = parse({ scrape_configs: [{ job_name: 'checkout', ...extra }] });
  assert.ok(r.success, JSON.stringify(r.error?.issues));
  return r.data.scrape_configs[0];
}

function issues(block: unknown): string {
  const r = parse(block);
  assert.equal(r.success, false);
  return JSON.stringify(r.error!.issues);
}

describe('scrape config', () => {
  test('durations as Prometheus writes them', () => {
    assert.equal(parseDuration('15s'), 15_000);
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('0'), 0);
    assert.throws(() => parseDuration('15'), /not a duration/);
    assert.throws(() => parseDuration('30s1m'), /not a duration/);
    assert.equal(formatDuration(90_000), '1m30s');
  });

  test('defaults follow Parca and Alloy', () => {
    const c = job();
    assert.equal(c.scrape_interval_ms, 15_000);
    assert.equal(c.scrape_timeout_ms, 10_000);
    assert.equal(c.scheme, 'http');
    assert.deepEqual(
      c.profile_types.map((t) => [t.name, t.profileName, t.path, t.delta, t.seconds]),
      [
        ['process_cpu', 'process_cpu', '/debug/pprof/profile', true, 14],
        ['memory', 'memory', '/debug/pprof/allocs', false, 0],
        ['goroutine', 'goroutine', '/debug/pprof/goroutine', false, 0],
        ['mutex', 'mutex', '/debug/pprof/mutex', false, 0],
        ['block', 'block', '/debug/pprof/block', false, 0],
      ],
    );
    // An unset timeout never exceeds a short interval.
    assert.equal(job({ scrape_interval: '3s' }).scrape_timeout_ms, 3_000);
  });

  test('godeltaprof types are opt-in and named as the profiles they replace; custom types need a path', () => {
    const c = job({
      profiling_config: {
        pprof_config: {
          memory: { enabled: false },
          godeltaprof_memory: { enabled: true },
          fgprof: { path: '/debug/fgprof', delta: true },
        },
      },
    });
    const byName = new Map(c.profile_types.map((t) => [t.name, t]));
    assert.equal(byName.has('memory'), false);
    assert.equal(byName.get('godeltaprof_memory')!.profileName, 'memory');
    assert.equal(byName.get('godeltaprof_memory')!.path, '/debug/pprof/delta_heap');
    assert.equal(byName.get('godeltaprof_memory')!.cumulative, undefined, 'godeltaprof already sends deltas');
    assert.deepEqual([byName.get('fgprof')!.path, byName.get('fgprof')!.seconds], ['/debug/fgprof', 14]);
    assert.match(issues({ scrape_configs: [{ job_name: 'j', profiling_config: { pprof_config: { custom: { enabled: true } } } }] }), /custom profile type needs a path/);
  });

  test('mistakes are reported with their key', () => {
    assert.match(issues({ scrape_configs: [{ job_name: 'j', scrape_interval: '15' }] }), /not a duration/);
    assert.match(issues({ scrape_configs: [{ job_name: 'j', scrape_interval: '5s', scrape_timeout: '10s' }] }), /must not be greater than scrape_interval/);
    assert.match(issues({ scrape_configs: [{ job_name: 'j', scrape_interval: '1s' }] }), /at least 2s while process_cpu/);
    assert.match(issues({ scrape_configs: [{ job_name: 'j' }, { job_name: 'j' }] }), /duplicate job_name/);
    assert.match(issues({ scrape_configs: [{ job_name: 'j', relabel_configs: [{ action: 'nope' }] }] }), /unknown relabel action/);
    assert.match(issues({ scrape_configs: [{ job_name: 'j', file_sd_configs: [{ files: ['a/*/b.json'] }] }] }), /only in the file name/);
    assert.match(issues({ scrape_configs: [{ job_name: 'j', static_config: [] }] }), /static_config/);
  });

  test('file_sd files: YAML or JSON target groups, errors name the file', () => {
    const groups = parseTargetGroups('- targets: ["10.0.0.5:6060"]\n  labels: {env: prod}\n', '/etc/t/a.yaml');
    assert.deepEqual(groups, [{ source: '/etc/t/a.yaml:0', targets: ['10.0.0.5:6060'], labels: { env: 'prod', __meta_filepath: '/etc/t/a.yaml' } }]);
    assert.deepEqual(parseTargetGroups('[{"targets": []}]', 'b.json')[0].targets, []);
    assert.deepEqual(parseTargetGroups('', 'empty.yaml'), []);
    assert.throws(() => parseTargetGroups('{"targets": ["x"]}', 'c.json'), /c.json: .*expected array/);
    assert.throws(() => parseTargetGroups('- targets: [1]', 'd.yaml'), /d.yaml: 0.targets.0/);
    assert.throws(() => parseTargetGroups('- targets: ["x"]\n  labels: {"bad-name": v}', 'e.yaml'), /labels.bad-name: (Invalid key|.*valid label name)/);
  });
});

describe('scrape targets', () => {
  test('labels and URLs as Alloy builds them', () => {
    const c = job({ scrape_interval: '10s', params: { debug: ['0'] } });
    const set = buildTargets(c, [], [{ source: 's', targets: ['10.0.0.5:6060', 'api.internal'], labels: { service_name: 'checkout', env: 'prod' } }]);
    assert.equal(set.active.length, 10);
    const cpu = set.active.find((t) => t.labels.__name__ === 'process_cpu' && t.labels.instance === '10.0.0.5:6060')!;
    assert.equal(cpu.url, 'http://10.0.0.5:6060/debug/pprof/profile?debug=0&seconds=9');
    assert.deepEqual(cpu.labels, { job: 'checkout', service_name: 'checkout', env: 'prod', instance: '10.0.0.5:6060', __name__: 'process_cpu' });
    // A missing port comes from the scheme; instance keeps the address as discovered.
    const noPort = set.active.find((t) => t.labels.__name__ === 'goroutine' && t.labels.instance === 'api.internal')!;
    assert.equal(noPort.url, 'http://api.internal/debug/pprof/goroutine?debug=0');
  });

  test('service_name is inferred as Alloy does when a target has none', () => {
    const c = job({ profiling_config: { pprof_config: { process_cpu: { enabled: false }, memory: { enabled: false }, mutex: { enabled: false }, block: { enabled: false } } } });
    const name = (labels: Record<string, string>) => buildTargets(c, [], [{ source: 's', targets: ['h:1'], labels }]).active[0].labels.service_name;
    assert.equal(name({}), 'unspecified');
    assert.equal(name({ __meta_kubernetes_namespace: 'shop', __meta_kubernetes_pod_container_name: 'cart' }), 'shop/cart');
    assert.equal(name({ __meta_kubernetes_namespace: 'shop', __meta_kubernetes_pod_container_name: 'cart', __meta_kubernetes_pod_annotation_pyroscope_io_service_name: 'cart-svc' }), 'cart-svc');
    assert.equal(name({ __meta_docker_container_name: 'web' }), 'web');
  });

  test('relabel_configs over __address__, __scheme__, __profile_path__ and __meta_* labels', () => {
    const c = job({ profiling_config: { pprof_config: { memory: { enabled: false }, mutex: { enabled: false }, block: { enabled: false } } } });
    const rules = compileRules([
      { source_labels: ['__meta_port'], regex: '(.+)', target_label: '__address__', replacement: 'node-1:$1' },
      { source_labels: ['__meta_tls'], regex: 'true', target_label: '__scheme__', replacement: 'https' },
      { source_labels: ['__name__'], regex: 'goroutine', target_label: '__profile_path__', replacement: '/custom/goroutines' },
      { source_labels: ['__meta_team'], target_label: 'team' },
      { source_labels: ['__meta_team'], regex: 'legacy', action: 'drop' },
    ]);
    const set = buildTargets(c, rules, [
      { source: 'a', targets: ['ignored:1'], labels: { __meta_port: '7000', __meta_tls: 'true', __meta_team: 'payments', service_name: 'pay' } },
      { source: 'b', targets: ['old:1'], labels: { __meta_team: 'legacy', service_name: 'old' } },
    ]);
    assert.deepEqual(set.active.map((t) => t.url).sort(), ['https://node-1:7000/custom/goroutines', 'https://node-1:7000/debug/pprof/profile?seconds=14']);
    assert.ok(set.active.every((t) => t.labels.team === 'payments' && t.labels.instance === 'node-1:7000'));
    assert.ok(set.active.every((t) => !Object.keys(t.labels).some((k) => k.startsWith('__') && k !== '__name__')), 'internal labels are not public');
    assert.equal(set.dropped.length, 2);
    assert.equal(set.dropped[0].discoveredLabels.__address__, 'old:1');
  });

  test('scrapes are spread over the interval, at a stable offset per target', () => {
    const offsets = Array.from({ length: 200 }, (_, i) => scrapeOffsetMs(`target-${i}`, 15_000));
    assert.ok(offsets.every((o) => o >= 0 && o < 15_000));
    assert.equal(scrapeOffsetMs('target-1', 15_000), offsets[1]);
    const buckets = new Set(offsets.map((o) => Math.floor(o / 1500)));
    assert.equal(buckets.size, 10, 'offsets fall in every tenth of the interval');
  });
});
