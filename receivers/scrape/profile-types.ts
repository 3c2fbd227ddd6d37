/**
 * The profile types a Go service exposes under /debug/pprof, with Parca's and Alloy's defaults,
 * and what the collector must do with each.
 */

export interface ProfileTypeConfig {
  enabled: boolean;
  path: string;
  /** Profile over a window: `?seconds=` is added to the URL (Parca's and Alloy's `delta`). */
  delta: boolean;
  /** The window for `delta` types, in seconds; 0: the scrape interval minus one second. */
  seconds: number;
}

export interface ProfileTypeSpec {
  /** The `__name__` label of what it yields. */
  profileName: string;
  /**
   * Which sample types count from process start and are turned into deltas by the collector,
   * by sample type name; `all` for every sample type. Absent: the endpoint already returns
   * what happened in a window (CPU, godeltaprof) or a snapshot (goroutines).
   */
  cumulative?: 'all' | readonly string[];
}

/** Parca's and Alloy's built-in types; the godeltaprof ones are opt-in, as in Alloy. */
export const BUILTIN_PROFILE_TYPES: Record<string, ProfileTypeConfig & ProfileTypeSpec> = {
  process_cpu: { enabled: true, path: '/debug/pprof/profile', delta: true, seconds: 0, profileName: 'process_cpu' },
  memory: {
    enabled: true,
    path: '/debug/pprof/allocs',
    delta: false,
    seconds: 0,
    profileName: 'memory',
    cumulative: ['alloc_objects', 'alloc_space'],
  },
  goroutine: { enabled: true, path: '/debug/pprof/goroutine', delta: false, seconds: 0, profileName: 'goroutine' },
  mutex: { enabled: true, path: '/debug/pprof/mutex', delta: false, seconds: 0, profileName: 'mutex', cumulative: 'all' },
  block: { enabled: true, path: '/debug/pprof/block', delta: false, seconds: 0, profileName: 'block', cumulative: 'all' },
  // Grafana's godeltaprof handlers compute the delta inside the program.
  godeltaprof_memory: { enabled: false, path: '/debug/pprof/delta_heap', delta: false, seconds: 0, profileName: 'memory' },
  godeltaprof_mutex: { enabled: false, path: '/debug/pprof/delta_mutex', delta: false, seconds: 0, profileName: 'mutex' },
  godeltaprof_block: { enabled: false, path: '/debug/pprof/delta_block', delta: false, seconds: 0, profileName: 'block' },
};

/** The indices of the sample types to turn into deltas, or [] when the profile is not cumulative. */
export function cumulativeIndices(spec: ProfileTypeSpec, sampleTypes: readonly { type: string }[]): number[] {
  if (!spec.cumulative) return [];
  const wanted = spec.cumulative;
  const out: number[] = [];
  sampleTypes.forEach((t, i) => {
    if (wanted === 'all' || wanted.includes(t.type)) out.push(i);
  });
  return out;
}
