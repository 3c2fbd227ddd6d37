/**
 * From discovered target groups to scrape targets: one per address and profile type, with
 * Prometheus' reserved labels, the job's relabel_configs, and the public labels that Alloy gives
 * each profile (`job`, `instance`, `service_name`).
 */
import { applyRules, type CompiledRule } from '../../core/relabel/rules.ts';
import { formatDuration } from '../../core/duration.ts';
import type { Labels } from '../../core/model.ts';
import { METRIC_NAME, type ResolvedProfileType, type ScrapeConfig } from './config.ts';
import type { TargetGroup } from './file-sd.ts';

export interface ScrapeTarget {
  /** Identity across rediscoveries: the same key keeps its scrape loop and its delta baseline. */
  key: string;
  job: string;
  profileType: ResolvedProfileType;
  url: string;
  /** Public labels of every profile from this target, `__name__` included. */
  labels: Labels;
  /** The labels before relabeling, as Prometheus' targets page shows them. */
  discoveredLabels: Labels;
}

export interface DroppedTarget {
  job: string;
  discoveredLabels: Labels;
  /** Why it is not scraped: dropped by a rule, or invalid after relabeling. */
  reason: string;
}

export interface TargetSet {
  active: ScrapeTarget[];
  dropped: DroppedTarget[];
}

/** Where Alloy looks for a service name when a target has none, in its order. */
function inferServiceName(l: Labels): string {
  const annotated = l.__meta_kubernetes_pod_annotation_pyroscope_io_service_name;
  if (annotated) return annotated;
  const ns = l.__meta_kubernetes_namespace;
  const container = l.__meta_kubernetes_pod_container_name;
  if (ns && container) return `${ns}/${container}`;
  const docker = l.__meta_docker_container_name;
  if (docker) return docker;
  const swarm = l.__meta_dockerswarm_container_label_service_name ?? l.__meta_dockerswarm_service_name;
  if (swarm) return swarm;
  return 'unspecified';
}

function withDefaultPort(address: string, scheme: string): string {
  // A bare IPv6 address is bracketed; "[::1]" alone has no port.
  const hasPort = address.startsWith('[') ? /\]:\d+$/.test(address) : /:\d+$/.test(address);
  if (hasPort) return address;
  return `${address}:${scheme === 'https' ? 443 : 80}`;
}

function isValidAddress(address: string): boolean {
  return address !== '' && !/[/?#@\s]/.test(address);
}

function buildUrl(l: Labels, address: string, type: ResolvedProfileType): string {
  const scheme = l.__scheme__;
  const url = new URL(`${scheme}://${address}`);
  url.pathname = `${l.__profile_path_prefix__ ?? ''}${l.__profile_path__}`;
  for (const [name, value] of Object.entries(l)) {
    if (name.startsWith('__param_') && name.length > 8) url.searchParams.set(name.slice(8), value);
  }
  if (type.delta) url.searchParams.set('seconds', String(type.seconds));
  return url.toString();
}

/** The labels a target has before relabeling: the job's defaults, then the group's, then its address. */
function discovered(job: ScrapeConfig, type: ResolvedProfileType, group: TargetGroup, address: string): Labels {
  const l: Labels = {
    job: job.job_name,
    __scheme__: job.scheme,
    __name__: type.profileName,
    __profile_path__: type.path,
    __profile_path_prefix__: job.path_prefix,
    __scrape_interval__: formatDuration(job.scrape_interval_ms),
    __scrape_timeout__: formatDuration(job.scrape_timeout_ms),
  };
  for (const [k, values] of Object.entries(job.params)) if (values.length > 0) l[`__param_${k}`] = values[0];
  Object.assign(l, group.labels);
  l.__address__ = address;
  return l;
}

export function buildTargets(job: ScrapeConfig, rules: readonly CompiledRule[], groups: readonly TargetGroup[]): TargetSet {
  const active = new Map<string, ScrapeTarget>();
  const dropped: DroppedTarget[] = [];
  for (const group of groups) {
    for (const address of group.targets) {
      for (const type of job.profile_types) {
        const before = discovered(job, type, group, address);
        const after = applyRules(before, rules);
        if (after === null) {
          dropped.push({ job: job.job_name, discoveredLabels: before, reason: 'dropped by relabel_configs' });
          continue;
        }
        const rawAddress = after.__address__ ?? '';
        const scheme = after.__scheme__ ?? job.scheme;
        if (!isValidAddress(rawAddress) || (scheme !== 'http' && scheme !== 'https') || !after.__profile_path__?.startsWith('/')) {
          dropped.push({ job: job.job_name, discoveredLabels: before, reason: `invalid target after relabeling: ${JSON.stringify(after)}` });
          continue;
        }
        const profileName = after.__name__ || type.profileName;
        if (!METRIC_NAME.test(profileName)) {
          dropped.push({ job: job.job_name, discoveredLabels: before, reason: `invalid __name__ after relabeling: ${JSON.stringify(profileName)}` });
          continue;
        }
        const addr = withDefaultPort(rawAddress, scheme);
        let url: string;
        try {
          url = buildUrl({ ...after, __scheme__: scheme }, addr, type);
        } catch (err) {
          dropped.push({ job: job.job_name, discoveredLabels: before, reason: `invalid URL: ${(err as Error).message}` });
          continue;
        }
        const labels: Labels = {};
        for (const [k, v] of Object.entries(after)) if (!k.startsWith('__') && v !== '') labels[k] = v;
        labels.instance ??= rawAddress;
        labels.service_name ??= inferServiceName(after);
        labels.job ??= job.job_name;
        labels.__name__ = profileName;
        const key = JSON.stringify([job.job_name, type.name, url, Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1))]);
        if (!active.has(key)) active.set(key, { key, job: job.job_name, profileType: type, url, labels, discoveredLabels: before });
      }
    }
  }
  return { active: [...active.values()], dropped };
}
