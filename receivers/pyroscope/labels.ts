/**
 * Series labels the way Pyroscope derives them: the `name` query parameter of /ingest, the
 * profile name (`__name__`) guessed from pprof sample types, and the limits every series obeys.
 */
import { BadRequestError } from '../../core/errors.ts';
import { checkLabelLimits, formatLabels, type LabelLimits } from '../../core/limits/index.ts';
import type { Labels, Profile, ValueType } from '../../core/model.ts';

export type { LabelLimits };

export interface AppName {
  /** The text before `{`, trimmed. */
  appName: string;
  /** The labels between the braces; values trimmed, empty values dropped. */
  labels: Labels;
}

/** The one double-underscore label clients may set: Pyroscope's SDKs use it to tell process restarts apart. */
export const SESSION_ID_LABEL = '__session_id__';

const APP_NAME_CHAR = /^[A-Za-z0-9_.\-/]$/;
const LABEL_NAME = /^[A-Za-z0-9_.]+$/;
const METRIC_NAME = /^[A-Za-z_:][A-Za-z0-9_:]*$/;

/**
 * Parses `app.name{k=v,k2=v2}`. Label names may contain dots (`otel.scope.name`); values may
 * contain anything but `,` and `}`.
 */
export function parseAppName(input: string): AppName {
  const open = input.indexOf('{');
  const appName = (open < 0 ? input : input.slice(0, open)).trim();
  if (appName === '') throw new BadRequestError('name: the application name is required (name=app.name{k=v})');
  for (const ch of appName) {
    if (!APP_NAME_CHAR.test(ch)) {
      throw new BadRequestError(`name: character ${JSON.stringify(ch)} is not allowed in application name ${JSON.stringify(appName)}`);
    }
  }
  const labels: Labels = {};
  if (open < 0) return { appName, labels };

  const close = input.indexOf('}', open + 1);
  if (close < 0) throw new BadRequestError(`name: the label set of ${JSON.stringify(input)} is missing its closing '}'`);
  if (input.slice(close + 1).trim() !== '') {
    throw new BadRequestError(`name: unexpected text after '}' in ${JSON.stringify(input)}`);
  }
  const body = input.slice(open + 1, close);
  if (body.includes('{')) throw new BadRequestError(`name: unexpected '{' inside the label set of ${JSON.stringify(input)}`);
  const pairs = body.split(',');
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i];
    // A trailing comma (`{a=b,}`) is tolerated, as Pyroscope's own clients sometimes send one.
    if (pair.trim() === '' && i === pairs.length - 1) continue;
    const eq = pair.indexOf('=');
    if (eq < 0) throw new BadRequestError(`name: label ${JSON.stringify(pair.trim())} has no '=value'`);
    const key = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    checkLabelName(key, 'name');
    if (key === '__name__') throw new BadRequestError('name: label __name__ is reserved; put the application name before the braces');
    if (Object.hasOwn(labels, key)) throw new BadRequestError(`name: duplicate label ${JSON.stringify(key)}`);
    // An empty value means "no label", as in Prometheus.
    if (value !== '') labels[key] = value;
  }
  return { appName, labels };
}

function checkLabelName(key: string, where: string): void {
  if (key === '') throw new BadRequestError(`${where}: empty label name`);
  if (!LABEL_NAME.test(key)) {
    throw new BadRequestError(`${where}: invalid label name ${JSON.stringify(key)} (allowed: letters, digits, '_' and '.')`);
  }
  if (key.startsWith('__') && key !== SESSION_ID_LABEL && key !== '__name__') {
    throw new BadRequestError(`${where}: label name ${JSON.stringify(key)} is reserved (names starting with "__" are internal)`);
  }
}

/**
 * Labels of an /ingest series: the user's labels, `service_name` (the app name unless the user set
 * one, in which case the app name is kept as `app_name`), and `pyroscope_spy`.
 */
export function ingestSeriesLabels(user: Labels, serviceName: string, spyName: string): Labels {
  const out: Labels = { ...user };
  if (out.service_name) {
    if (!out.app_name) out.app_name = serviceName;
  } else {
    out.service_name = serviceName;
  }
  out.pyroscope_spy = spyName;
  return out;
}

/**
 * Checks a complete series label set: the receiver's label limits (the same check as the
 * per-tenant limits every receiver's batches pass afterwards), then what a series must have.
 */
export function validateSeriesLabels(labels: Labels, limits: LabelLimits): void {
  checkLabelLimits(labels, limits);
  if (Object.hasOwn(labels, '')) throw new BadRequestError(`profile series ${formatLabels(labels)} has an empty label name`);
  const profileName = labels.__name__;
  if (profileName === undefined || !METRIC_NAME.test(profileName)) {
    throw new BadRequestError(`profile name (__name__) ${JSON.stringify(profileName ?? '')} is not a valid metric name`);
  }
  if (!labels.service_name) throw new BadRequestError(`profile series ${formatLabels(labels)} has no service_name`);
}

/** Checks a label name pushed over push.v1 (label names there follow Prometheus' UTF-8 rules). */
export function checkPushedLabelName(name: string): void {
  if (name === '') throw new BadRequestError('series has a label with an empty name');
  if (name.startsWith('__') && name !== '__name__' && name !== SESSION_ID_LABEL) {
    throw new BadRequestError(`label name ${JSON.stringify(name)} is reserved (names starting with "__" are internal)`);
  }
}

/** Per-sample-type settings sent by Pyroscope's SDKs in the `sample_type_config` form part. */
export interface SampleTypeSettings {
  units?: string;
  'display-name'?: string;
  aggregation?: string;
  cumulative?: boolean;
  sampled?: boolean;
}
export type SampleTypeConfig = Record<string, SampleTypeSettings>;

/**
 * What Pyroscope assumes when a client sends no sample_type_config. Go's block and mutex profiles
 * share sample type names, so without a config a block profile is filed as `mutex` there too.
 */
const DEFAULT_DISPLAY_NAMES: Record<string, string> = {
  samples: 'cpu',
  goroutine: 'goroutines',
  contentions: 'mutex_count',
  delay: 'mutex_duration',
};

function familyOf(sampleType: string): string | undefined {
  if (sampleType.includes('cpu')) return 'process_cpu';
  if (sampleType.includes('alloc_') || sampleType.includes('inuse_') || sampleType === 'space' || sampleType === 'objects') {
    return 'memory';
  }
  if (sampleType.includes('mutex_')) return 'mutex';
  if (sampleType.includes('block_')) return 'block';
  if (sampleType.includes('goroutines')) return 'goroutines';
  return undefined;
}

/**
 * The profile name (`__name__`) of each sample type of a pprof profile.
 *
 * Pyroscope names a whole profile at once: `wall` when any sample type is `wall`, else the family of
 * the first recognised sample type (after display-name renames). We keep that result for every
 * sample type it describes, so Go, Java and Node.js profiles get exactly Pyroscope's profile type
 * IDs (`process_cpu:samples:count:cpu:nanoseconds` included); only a sample type that is itself
 * recognised as another family gets its own name, and the caller splits the profile by name.
 */
export function profileNamesFor(sampleTypes: readonly ValueType[], config?: SampleTypeConfig): string[] {
  if (sampleTypes.length === 0) return [];
  if (sampleTypes.some((t) => t.type === 'wall')) return sampleTypes.map(() => 'wall');
  // As in Pyroscope, a client's config replaces the defaults instead of extending them.
  const display = (t: string): string => (config ? config[t]?.['display-name'] || t : DEFAULT_DISPLAY_NAMES[t] ?? t);
  const families = sampleTypes.map((t) => familyOf(display(t.type)));
  const fallback = families.find((f) => f !== undefined) ?? sanitizeMetricName(display(sampleTypes[sampleTypes.length - 1].type));
  return families.map((f) => f ?? fallback);
}

function sanitizeMetricName(s: string): string {
  const cleaned = s.replace(/[^A-Za-z0-9_:]/g, '_');
  return /^[A-Za-z_:]/.test(cleaned) ? cleaned : `_${cleaned}`;
}

/**
 * Replaces `-` in sample type names by `_` (`alloc-samples` → `alloc_samples`). Pyroscope rejects
 * such names except from its old .NET agent, whose names it rewrites the same way; rewriting them
 * always keeps profile type IDs selector-safe and lets the family rules above recognise them.
 */
export function normalizeSampleTypeNames(profile: Profile): Profile {
  if (!profile.sampleTypes.some((t) => t.type.includes('-'))) return profile;
  return { ...profile, sampleTypes: profile.sampleTypes.map((t) => ({ ...t, type: t.type.replaceAll('-', '_') })) };
}

export interface NamedProfile {
  name: string;
  profile: Profile;
}

/**
 * Splits a profile into one profile per name. A batch carries one `__name__` for all its sample
 * types, so a profile mixing families (cpu and allocations, say) becomes several batches. The
 * parts share the name, stack and label tables of the original.
 */
export function splitByName(profile: Profile, names: readonly string[]): NamedProfile[] {
  const groups = new Map<string, number[]>();
  names.forEach((name, i) => {
    const g = groups.get(name);
    if (g) g.push(i);
    else groups.set(name, [i]);
  });
  if (groups.size <= 1) {
    return groups.size === 0 ? [] : [{ name: names[0], profile }];
  }
  const out: NamedProfile[] = [];
  for (const [name, indices] of groups) {
    const samples = [];
    for (const s of profile.samples) {
      const values = indices.map((i) => s.values[i]);
      if (values.every((v) => v === 0)) continue;
      samples.push({ ...s, values });
    }
    out.push({
      name,
      profile: { ...profile, sampleTypes: indices.map((i) => profile.sampleTypes[i]), samples },
    });
  }
  return out;
}
