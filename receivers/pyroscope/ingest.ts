/**
 * Pyroscope's legacy `POST /ingest`: the query string describes the profile (name and labels,
 * time range, format, sample rate, spy), the body carries it (pprof, multipart pprof, JFR with
 * its labels, folded text, one stack per line, speedscope JSON, or the trie and tree formats).
 */
import { createHash } from 'node:crypto';
import { Busboy, type BusboyInstance } from '@fastify/busboy';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  BadRequestError,
  HearthError,
  PayloadTooLargeError,
  ProfileTooLargeError,
  UnsupportedMediaTypeError,
} from '../../core/errors.ts';
import { parseAtTime } from '../../core/attime.ts';
import { WRITE_ROUTE } from '../../core/auth.ts';
import { tenantOf } from '../../core/http.ts';
import type { Batch, Labels, Profile } from '../../core/model.ts';
import { inflateBoundedAsync, isGzip } from '../../formats/gzip.ts';
import { decodeTreeBytes } from '../../formats/flamegraph/index.ts';
import { FormatError } from '../../formats/format-error.ts';
import { decodeJfr, decodeLabelsSnapshot, gunzipJfr, type LabelsSnapshot } from '../../formats/jfr/index.ts';
import { decodePprof } from '../../formats/pprof/index.ts';
import { decodeSpeedscope, type SpeedscopeUnit } from '../../formats/speedscope/index.ts';
import { decodeTrie } from '../../formats/trie/index.ts';
import type { Intake } from './index.ts';
import { stampsOf } from './retry-stamps.ts';
import {
  ingestSeriesLabels,
  normalizeSampleTypeNames,
  parseAppName,
  profileNamesFor,
  splitByName,
  validateSeriesLabels,
  type SampleTypeConfig,
} from './labels.ts';
import { parseFolded, parseLines, profileFromStacks, textProfileType, type CountedStack } from './text-formats.ts';

export const DEFAULT_SAMPLE_RATE = 100;
/** Room for multipart framing and the small form parts around a profile. */
const MULTIPART_OVERHEAD = 1024 * 1024;
const NS_PER_MS = 1_000_000n;
const NS_PER_S = 1_000_000_000n;
/** Clients with a broken clock (or a microseconds bug) send times in 1970. */
const START_OF_1971_NS = 31_536_000n * NS_PER_S;

type Query = Record<string, string | string[] | undefined>;

export interface IngestRequest {
  tenant: string;
  query: Query;
  contentType: string;
  contentEncoding: string;
  body: Uint8Array;
  /** Receive time, Unix ns: the default for `from` and `until`. */
  now: bigint;
}

export function registerIngestRoutes(http: FastifyInstance, paths: readonly string[], intake: Intake): void {
  const handler = (req: FastifyRequest, reply: FastifyReply) =>
    intake.admit(async () => {
      const batches = await ingestBatches(
        {
          tenant: tenantOf(req.headers),
          query: req.query as Query,
          contentType: header(req.headers['content-type']),
          contentEncoding: header(req.headers['content-encoding']),
          body: Buffer.isBuffer(req.body) ? req.body : new Uint8Array(0),
          now: BigInt(Date.now()) * NS_PER_MS,
        },
        intake,
      );
      await intake.deliver(batches);
      return reply.code(200).send();
    });
  for (const path of paths) http.post(path, WRITE_ROUTE, handler);
}

function header(v: string | string[] | undefined): string {
  return (Array.isArray(v) ? v[0] : v) ?? '';
}

function param(q: Query, name: string): string | undefined {
  const v = q[name];
  return Array.isArray(v) ? v[0] : v;
}

type Format = 'pprof' | 'folded' | 'lines' | 'jfr' | 'speedscope' | 'trie' | 'tree';

/** Mirrors Pyroscope's dispatch: an explicit format wins, then multipart means pprof, else folded. */
function formatOf(format: string | undefined, contentType: string): Format {
  const ct = contentType.toLowerCase();
  if (format === 'trie' || ct.startsWith('binary/octet-stream+trie')) return 'trie';
  if (format === 'tree' || ct.startsWith('binary/octet-stream+tree')) return 'tree';
  if (format === 'lines' || format === 'jfr' || format === 'speedscope') return format;
  if (format === 'pprof' || ct.startsWith('multipart/form-data')) return 'pprof';
  return 'folded';
}

/** Turns one /ingest request into the batches to store (none for an empty profile). */
export async function ingestBatches(r: IngestRequest, intake: Pick<Intake, 'maxProfileBytes' | 'limits'>): Promise<Batch[]> {
  const name = param(r.query, 'name');
  if (name === undefined || name.trim() === '') {
    throw new BadRequestError('query parameter "name" is required (name=app.name{k=v})');
  }
  const { appName, labels: userLabels } = parseAppName(name);
  const fromText = param(r.query, 'from');
  const untilText = param(r.query, 'until');
  // A time taken from the clock would make each retry a new profile: a retry of the same request
  // keeps the receive time of its first copy.
  const now = !fromText || !untilText ? stampsOf(intake).stamp(requestDigest(r), r.now) : r.now;
  const from = fromText ? parseAtTime(fromText, now, 'from') : now;
  const until = untilText ? parseAtTime(untilText, now, 'until') : now;
  const spyName = param(r.query, 'spyName') || 'unknown';
  const format = formatOf(param(r.query, 'format'), r.contentType);
  const body = await decodeContentEncoding(r.body, r.contentEncoding, intake.maxProfileBytes + MULTIPART_OVERHEAD);

  const ctx: BatchContext = { tenant: r.tenant, from, until, requestBody: r.body, limits: intake.limits };
  if (format === 'pprof') {
    return pprofBatches(body, r.contentType, appName, userLabels, spyName, intake.maxProfileBytes, ctx);
  }
  const sampleRate = parseSampleRate(param(r.query, 'sampleRate'));
  if (format === 'jfr') {
    return asClientError(() => jfrBatches(body, r.contentType, appName, userLabels, spyName, sampleRate, intake.maxProfileBytes, ctx));
  }

  // Pyroscope ignores text uploads labelled with a profile ID; so do we, which also keeps a
  // per-request ID from becoming a series label.
  if (userLabels.profile_id) return [];
  if (body.length > intake.maxProfileBytes) {
    throw new ProfileTooLargeError(`profile is ${body.length} bytes, which exceeds the limit of ${intake.maxProfileBytes} bytes`);
  }
  const timing = { timeNanos: from, durationNanos: until > from ? until - from : 0n };
  if (format === 'speedscope') {
    return asClientError(async () => speedscopeBatches(body, appName, userLabels, spyName, sampleRate, timing, ctx));
  }
  const type = textProfileType(appName, sampleRate);
  const labels = ingestSeriesLabels(userLabels, type.serviceName, spyName);
  let profile: Profile;
  if (format === 'trie' || format === 'tree') {
    const stacks = await asClientError(async () => (format === 'trie' ? trieStacks(body) : treeStacks(body)));
    profile = profileFromStacks(stacks, type, timing);
  } else {
    const text = new TextDecoder().decode(body);
    profile = format === 'lines' ? parseLines(text, type, timing) : parseFolded(text, type, timing);
  }
  return batchesFor([{ name: type.name, profile }], labels, ctx);
}

/** Decoders in formats/ throw FormatError (and RangeError on absurd depth); both are the client's fault. */
async function asClientError<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof FormatError) throw err.tooLarge ? new ProfileTooLargeError(err.message) : new BadRequestError(err.message);
    if (err instanceof RangeError) throw new BadRequestError(`the profile cannot be decoded: ${err.message}`);
    throw err;
  }
}

/**
 * JFR: the raw recording (gzip or not), or a multipart form with the recording in `jfr` and
 * pyroscope-java's LabelsSnapshot in `labels`. One recording yields a profile per event kind.
 */
async function jfrBatches(
  body: Uint8Array,
  contentType: string,
  appName: string,
  userLabels: Labels,
  spyName: string,
  sampleRate: number,
  maxProfileBytes: number,
  ctx: BatchContext,
): Promise<Batch[]> {
  let jfr: Uint8Array = body;
  let labels: LabelsSnapshot | undefined;
  if (contentType.toLowerCase().startsWith('multipart/form-data')) {
    const parts = await readMultipart(body, contentType, maxProfileBytes + MULTIPART_OVERHEAD);
    const part = parts.get('jfr');
    if (!part) throw new BadRequestError('the multipart form has no "jfr" part');
    jfr = part;
    const labelsPart = parts.get('labels');
    if (labelsPart && labelsPart.length > 0) labels = decodeLabelsSnapshot(gunzipJfr(labelsPart, maxProfileBytes));
  }
  // Pyroscope answers an empty upload with 200 and stores nothing.
  if (jfr.length === 0) return [];
  const decoded = decodeJfr(jfr, {
    maxBytes: maxProfileBytes,
    sampleRate,
    timeNanos: ctx.from,
    durationNanos: ctx.until > ctx.from ? ctx.until - ctx.from : 0n,
    labels,
  });
  const series = ingestSeriesLabels(userLabels, appName, spyName);
  // Pyroscope labels every series of a recording with the profiler's event setting.
  if (decoded.event !== '') series.jfr_event = decoded.event;
  return batchesFor(decoded.profiles, series, ctx);
}

/** Per speedscope unit: Pyroscope's default sample rate (Hz) and the precision its tree keeps. */
const SPEEDSCOPE_UNIT_RATES: Record<SpeedscopeUnit, { rate: number; multiplier: number }> = {
  nanoseconds: { rate: 100e9, multiplier: 100 },
  microseconds: { rate: 100e6, multiplier: 100 },
  milliseconds: { rate: 100e3, multiplier: 100 },
  seconds: { rate: 100, multiplier: 100 },
  none: { rate: 100e2, multiplier: 100 },
  bytes: { rate: 0, multiplier: 1 },
};

/**
 * speedscope: each profile of the file becomes a series labelled `profile_name`. With several
 * profiles, the unit is appended to the app name (`app.milliseconds`), whose suffix then picks
 * the profile type as for folded uploads. Time units become nanoseconds.
 */
function speedscopeBatches(
  body: Uint8Array,
  appName: string,
  userLabels: Labels,
  spyName: string,
  sampleRate: number,
  timing: { timeNanos: bigint; durationNanos: bigint },
  ctx: BatchContext,
): Batch[] {
  const profiles = decodeSpeedscope(new TextDecoder().decode(body));
  const out: Batch[] = [];
  for (const p of profiles) {
    const { rate: unitRate, multiplier } = SPEEDSCOPE_UNIT_RATES[p.unit];
    const name = profiles.length > 1 ? `${appName}.${p.unit}` : appName;
    const rate = sampleRate === DEFAULT_SAMPLE_RATE ? unitRate : sampleRate;
    const type = textProfileType(name, rate);
    // Pyroscope keeps unit/100 precision, then scales time by its integer sampling period, which
    // rounds to zero for nanoseconds; scaling by the exact ratio gives the nanoseconds it means.
    const scale = type.timed && rate > 0 ? (multiplier * 1e9) / rate : multiplier;
    const stacks: CountedStack[] = p.stacks.map((s) => ({ frames: s.frames, count: s.value }));
    const profile = profileFromStacks(stacks, { ...type, scale }, timing);
    const labels = ingestSeriesLabels(userLabels, type.serviceName, spyName);
    if (p.name !== '') labels.profile_name = p.name;
    out.push(...batchesFor([{ name: type.name, profile }], labels, ctx));
  }
  return out;
}

function trieStacks(body: Uint8Array): CountedStack[] {
  return decodeTrie(body).map((e) => ({ frames: e.key.split(';'), count: e.value }));
}

function treeStacks(body: Uint8Array): CountedStack[] {
  const merged = decodeTreeBytes(body);
  return merged.stacks.map((s, i) => ({ frames: Array.from(s, (n) => merged.names[n]).reverse(), count: merged.values[i] }));
}

async function decodeContentEncoding(body: Uint8Array, encoding: string, maxBytes: number): Promise<Uint8Array> {
  const enc = encoding.trim().toLowerCase();
  if (enc === '' || enc === 'identity') return body;
  if (enc === 'gzip' || enc === 'x-gzip') return inflateBoundedAsync(body, maxBytes);
  throw new UnsupportedMediaTypeError(`Content-Encoding ${JSON.stringify(encoding)} is not supported (use gzip)`);
}

async function pprofBatches(
  body: Uint8Array,
  contentType: string,
  appName: string,
  userLabels: Labels,
  spyName: string,
  maxProfileBytes: number,
  ctx: BatchContext,
): Promise<Batch[]> {
  let raw: Uint8Array = body;
  let config: SampleTypeConfig | undefined;
  if (contentType.toLowerCase().startsWith('multipart/form-data')) {
    const parts = await readMultipart(body, contentType, maxProfileBytes + MULTIPART_OVERHEAD);
    const prev = parts.get('prev_profile');
    if (prev && prev.length > 0) {
      throw new BadRequestError(
        'unsupported client version: prev_profile (cumulative profiles diffed by the server) is not supported; ' +
          'upgrade the Pyroscope SDK so that it sends delta profiles',
      );
    }
    const profile = parts.get('profile');
    if (!profile) throw new BadRequestError('the multipart form has no "profile" part');
    raw = profile;
    const stc = parts.get('sample_type_config');
    if (stc && stc.length > 0) config = parseSampleTypeConfig(stc);
  }
  // Pyroscope answers an empty upload with 200 and stores nothing.
  if (raw.length === 0) return [];
  if (isGzip(raw)) raw = await inflateBoundedAsync(raw, maxProfileBytes);

  let profile = normalizeSampleTypeNames(decodePprof(raw, { maxBytes: maxProfileBytes }));
  if (profile.timeNanos < START_OF_1971_NS) profile = { ...profile, timeNanos: ctx.from };
  if (profile.durationNanos <= 0n && ctx.until > ctx.from) profile = { ...profile, durationNanos: ctx.until - ctx.from };

  const labels = ingestSeriesLabels(userLabels, appName, spyName);
  return batchesFor(splitByName(profile, profileNamesFor(profile.sampleTypes, config)), labels, ctx);
}

interface BatchContext {
  tenant: string;
  from: bigint;
  until: bigint;
  requestBody: Uint8Array;
  limits: Intake['limits'];
}

function batchesFor(parts: { name: string; profile: Profile }[], base: Labels, ctx: BatchContext): Batch[] {
  const out: Batch[] = [];
  for (const { name, profile } of parts) {
    if (profile.samples.length === 0) continue;
    const labels: Labels = { ...base, __name__: name };
    validateSeriesLabels(labels, ctx.limits);
    out.push({ tenant: ctx.tenant, labels, profile, idempotencyKey: ingestIdempotencyKey(ctx, labels, profile) });
  }
  return out;
}

/** The same upload (same series, time range and bytes) yields the same key, so a retry is stored once. */
function ingestIdempotencyKey(ctx: BatchContext, labels: Labels, profile: Profile): string {
  const h = createHash('sha256');
  // The sample types tell apart the profiles of one upload that share a series (JFR's TLAB allocations and live objects).
  const types = profile.sampleTypes.map((t) => `${t.type}:${t.unit}`);
  h.update(JSON.stringify(['pyroscope-ingest', ctx.tenant, canonicalLabels(labels), String(ctx.from), String(ctx.until), types]));
  h.update('\0');
  h.update(ctx.requestBody);
  return h.digest('hex');
}

/** What makes two /ingest requests the same upload: tenant, query, content headers and bytes. */
function requestDigest(r: IngestRequest): string {
  const h = createHash('sha256');
  const query = Object.keys(r.query)
    .sort()
    .map((k) => [k, r.query[k]]);
  h.update(JSON.stringify(['pyroscope-ingest-request', r.tenant, query, r.contentType, r.contentEncoding]));
  h.update('\0');
  h.update(r.body);
  return h.digest('hex');
}

/** A label set as sorted pairs, for hashing. */
export function canonicalLabels(labels: Labels): [string, string][] {
  return Object.keys(labels)
    .sort()
    .map((k) => [k, labels[k]]);
}

/** `sampleRate` in Hz; anything that is not a whole number (negative included) means the default. */
export function parseSampleRate(text: string | undefined): number {
  if (text === undefined || !/^\d{1,10}$/.test(text.trim())) return DEFAULT_SAMPLE_RATE;
  const rate = Number(text.trim());
  // Above 1 GHz the period would round to zero nanoseconds.
  return rate <= 1e9 ? rate : DEFAULT_SAMPLE_RATE;
}

const sampleTypeSettings = z
  .object({
    units: z.string().optional(),
    'display-name': z.string().optional(),
    aggregation: z.string().optional(),
    cumulative: z.boolean().optional(),
    sampled: z.boolean().optional(),
  })
  .nullable();
const sampleTypeConfigSchema = z.record(z.string(), sampleTypeSettings);

export function parseSampleTypeConfig(bytes: Uint8Array): SampleTypeConfig {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new BadRequestError(`sample_type_config is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = sampleTypeConfigSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new BadRequestError(`sample_type_config is invalid at ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const out: SampleTypeConfig = {};
  // Keys follow the sample type names after normalizeSampleTypeNames.
  for (const [k, v] of Object.entries(parsed.data)) if (v) out[k.replaceAll('-', '_')] = v;
  return out;
}

/**
 * Reads a multipart/form-data body into its parts (first occurrence of each name wins). Every part
 * is taken as bytes: Pyroscope's clients send the profile as a file but nothing guarantees it.
 */
export function readMultipart(body: Uint8Array, contentType: string, maxPartBytes: number): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    let bb: BusboyInstance;
    try {
      bb = Busboy({
        headers: { 'content-type': contentType },
        isPartAFile: () => true,
        // The body is already in memory, so nothing is gained by backpressure; and busboy stalls
        // for good when a part it skips (one without Content-Disposition) fills its buffer and
        // ends in the same write, leaving the request unanswered.
        fileHwm: body.byteLength + 1,
        limits: { parts: 16, files: 16, fileSize: maxPartBytes, headerPairs: 64, fieldNameSize: 200 },
      });
    } catch (err) {
      reject(new BadRequestError(`malformed multipart request: ${(err as Error).message}`));
      return;
    }
    const parts = new Map<string, Buffer>();
    const reading: Promise<void>[] = [];
    let failure: HearthError | undefined;
    const fail = (err: HearthError) => {
      failure ??= err;
    };
    bb.on('file', (field, stream) => {
      const chunks: Buffer[] = [];
      reading.push(
        new Promise<void>((done) => {
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('limit', () => fail(new PayloadTooLargeError(`multipart part "${field}" exceeds ${maxPartBytes} bytes`)));
          stream.on('error', (err: Error) => {
            fail(new BadRequestError(`malformed multipart request: ${err.message}`));
            done();
          });
          stream.on('end', () => {
            if (!parts.has(field)) parts.set(field, Buffer.concat(chunks));
            done();
          });
        }),
      );
    });
    bb.on('partsLimit', () => fail(new BadRequestError('the multipart form has too many parts')));
    bb.on('filesLimit', () => fail(new BadRequestError('the multipart form has too many parts')));
    bb.on('error', (err: unknown) => {
      fail(new BadRequestError(`malformed multipart request: ${err instanceof Error ? err.message : String(err)}`));
      reject(failure);
    });
    bb.on('finish', () => {
      Promise.all(reading).then(() => (failure ? reject(failure) : resolve(parts)), reject);
    });
    bb.end(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  });
}
