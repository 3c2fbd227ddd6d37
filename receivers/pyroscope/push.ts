/**
 * Pyroscope's push API, `push.v1.PusherService/Push`, over Connect (JSON or binary protobuf, gzip
 * allowed): the path Grafana Alloy, the OTel Collector's Pyroscope exporter and newer SDKs use.
 */
import { createHash } from 'node:crypto';
import { Code, ConnectError, type ConnectRouter } from '@connectrpc/connect';
import { fastifyConnectPlugin } from '@connectrpc/connect-fastify';
import { compressionBrotli, compressionGzip } from '@connectrpc/connect-node';
import type { Compression } from '@connectrpc/connect/protocol';
import type { FastifyInstance } from 'fastify';
import { markWriteRoutes } from '../../core/auth.ts';
import { toConnectError } from '../../core/connect-errors.ts';
import { refuseUnparsableConnectBodies } from '../../core/connect-parse-errors.ts';
import { BadRequestError } from '../../core/errors.ts';
import { tenantOfCall } from '../../core/connect-tenant.ts';
import type { Batch, Labels } from '../../core/model.ts';
import { inflateBoundedAsync, isGzip } from '../../formats/gzip.ts';
import { decodePprof } from '../../formats/pprof/index.ts';
import { PusherService, type PushRequest } from '../../gen/push/v1/push_pb.ts';
import type { Intake } from './index.ts';
import { stampsOf } from './retry-stamps.ts';
import { canonicalLabels } from './ingest.ts';
import {
  checkPushedLabelName,
  normalizeSampleTypeNames,
  profileNamesFor,
  splitByName,
  validateSeriesLabels,
} from './labels.ts';

/** Pyroscope's distributor fills this in when a series has no service_name. */
export const UNKNOWN_SERVICE = 'unknown_service';
/** Flags for Pyroscope's own pipeline (server-side deltas, OTLP origin, ordering); they carry no meaning here. */
const TRANSPORT_LABELS = new Set(['__delta__', '__otel__', '__order__']);
const DEFAULT_READ_MAX_BYTES = 256 * 1024 * 1024;

export async function registerPushService(http: FastifyInstance, intake: Intake): Promise<void> {
  // The Connect plugin replaces the body parsers of its scope, so the shared server's body limit
  // doesn't reach it; Connect enforces its own, on the decompressed message.
  const readMaxBytes = http.initialConfig.bodyLimit ?? DEFAULT_READ_MAX_BYTES;
  await http.register(async (scope) => {
    markWriteRoutes(scope);
    scope.addHook('onRequest', async (req, reply) => {
      const length = Number(req.headers['content-length']);
      if (length > readMaxBytes) {
        await reply.code(413).send({ code: 413, message: `the request is ${length} bytes, over the limit of ${readMaxBytes} bytes` });
      }
    });
    refuseUnparsableConnectBodies(scope);
    await scope.register(fastifyConnectPlugin, {
      routes: pushRoutes(intake),
      readMaxBytes,
      acceptCompression: [refuseOversize(compressionGzip), refuseOversize(compressionBrotli)],
    });
  });
}

/**
 * Connect stops inflating at readMaxBytes, but calls that resource_exhausted, which is HTTP 429
 * and tells clients to retry a request that can never fit. Like Pyroscope's size checks, this is
 * invalid_argument.
 */
function refuseOversize(c: Compression): Compression {
  return {
    name: c.name,
    compress: (bytes) => c.compress(bytes),
    async decompress(bytes, readMaxBytes) {
      try {
        return await c.decompress(bytes, readMaxBytes);
      } catch (err) {
        if (ConnectError.from(err).code !== Code.ResourceExhausted) throw err;
        throw new ConnectError(`the request inflates to more than ${readMaxBytes} bytes, the limit of one request`, Code.InvalidArgument);
      }
    },
  };
}

export function pushRoutes(intake: Intake): (router: ConnectRouter) => void {
  return (router) => {
    router.service(PusherService, {
      async push(req, ctx) {
        try {
          await intake.admit(async () => {
            const tenant = tenantOfCall(ctx);
            const inflated = await inflateSamples(req, intake.maxProfileBytes);
            await intake.deliver(pushBatches(req, tenant, intake, BigInt(Date.now()) * 1_000_000n, inflated));
          });
          return {};
        } catch (err) {
          throw toConnectError(err);
        }
      },
    });
  };
}

/**
 * Decodes and validates every profile of a push request before anything is delivered, so a bad
 * sample rejects the whole request instead of half-storing it.
 */
export function pushBatches(
  req: PushRequest,
  tenant: string,
  intake: Pick<Intake, 'maxProfileBytes' | 'limits'>,
  nowNs: bigint,
  inflated: ReadonlyMap<Uint8Array, Uint8Array> = new Map(),
): Batch[] {
  const out: Batch[] = [];
  req.series.forEach((series, seriesIndex) => {
    const labels: Labels = {};
    const seen = new Set<string>();
    for (const { name, value } of series.labels) {
      if (TRANSPORT_LABELS.has(name)) continue;
      checkPushedLabelName(name);
      if (seen.has(name)) throw new BadRequestError(`series ${seriesIndex} has duplicate label name ${JSON.stringify(name)}`);
      seen.add(name);
      // As in Prometheus, an empty value is the same as no label.
      if (value !== '') labels[name] = value;
    }
    if (!labels.service_name) labels.service_name = UNKNOWN_SERVICE;
    const fixedName = labels.__name__;
    delete labels.__name__;

    series.samples.forEach((sample, sampleIndex) => {
      if (sample.rawProfile.length === 0) return;
      let profile;
      try {
        profile = normalizeSampleTypeNames(decodePprof(inflated.get(sample.rawProfile) ?? sample.rawProfile, { maxBytes: intake.maxProfileBytes }));
      } catch (err) {
        if (err instanceof Error) err.message = `series ${seriesIndex} sample ${sampleIndex}: ${err.message}`;
        throw err;
      }
      // A client without a clock-stamped profile means "now", not 1970; a retry of it keeps the
      // first copy's "now", so that it is stored once.
      if (profile.timeNanos <= 0n) {
        const key = pushIdempotencyKey(tenant, { ...labels, __name__: fixedName ?? '' }, sample.ID, sample.rawProfile);
        profile = { ...profile, timeNanos: stampsOf(intake).stamp(key, nowNs) };
      }
      const names = fixedName ? profile.sampleTypes.map(() => fixedName) : profileNamesFor(profile.sampleTypes);
      for (const part of splitByName(profile, names)) {
        if (part.profile.samples.length === 0) continue;
        const batchLabels: Labels = { ...labels, __name__: part.name };
        validateSeriesLabels(batchLabels, intake.limits);
        out.push({
          tenant,
          labels: batchLabels,
          profile: part.profile,
          idempotencyKey: pushIdempotencyKey(tenant, batchLabels, sample.ID, sample.rawProfile),
        });
      }
    });
  });
  return out;
}

/**
 * The request's gzipped profiles, inflated on libuv's thread pool rather than the main thread,
 * keyed by their bytes as received; pushBatches decodes them from there.
 */
async function inflateSamples(req: PushRequest, maxBytes: number): Promise<Map<Uint8Array, Uint8Array>> {
  const out = new Map<Uint8Array, Uint8Array>();
  const inflating: Array<Promise<void>> = [];
  req.series.forEach((series, seriesIndex) =>
    series.samples.forEach((sample, sampleIndex) => {
      if (!isGzip(sample.rawProfile)) return;
      inflating.push(
        inflateBoundedAsync(sample.rawProfile, maxBytes).then(
          (raw) => void out.set(sample.rawProfile, raw),
          (err: Error) => {
            err.message = `series ${seriesIndex} sample ${sampleIndex}: ${err.message}`;
            throw err;
          },
        ),
      );
    }),
  );
  await Promise.all(inflating);
  return out;
}

/** The client's profile ID names the profile when there is one; otherwise its bytes do. */
function pushIdempotencyKey(tenant: string, labels: Labels, id: string, raw: Uint8Array): string {
  const h = createHash('sha256');
  h.update(JSON.stringify(['pyroscope-push', tenant, canonicalLabels(labels), id ? `id:${id}` : 'content']));
  if (!id) {
    h.update('\0');
    h.update(raw);
  }
  return h.digest('hex');
}
