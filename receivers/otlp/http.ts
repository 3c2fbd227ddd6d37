/**
 * OTLP/HTTP: `POST /v1development/profiles` and `POST /v1/traces`, binary protobuf or JSON,
 * optionally gzip. Answers as the OTLP spec says: 200 with the export response (carrying
 * partial_success when some data was refused), otherwise a google.rpc.Status in the request's
 * encoding with 400, 404 (signal not configured), 413, 415, or 429/503 with Retry-After.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { connectCodeForStatus } from '../../core/connect-errors.ts';
import { HearthError, PayloadTooLargeError, ProfileTooLargeError, UnsupportedMediaTypeError } from '../../core/errors.ts';
import { WRITE_ROUTE } from '../../core/auth.ts';
import { tenantOf } from '../../core/http.ts';
import { inflateBoundedAsync } from '../../formats/gzip.ts';
import { encodeExportResponse, encodeStatus } from '../../formats/otlp/index.ts';
import type { Encoding, OtlpIntake, OtlpSignal } from './intake.ts';

export const PROFILES_PATH = '/v1development/profiles';
export const TRACES_PATH = '/v1/traces';

const CONTENT_TYPES: Record<Encoding, string> = { protobuf: 'application/x-protobuf', json: 'application/json' };

export function registerHttpRoutes(app: FastifyInstance, intake: OtlpIntake): void {
  app.post(PROFILES_PATH, WRITE_ROUTE, (req, reply) => handle('profiles', req, reply, intake));
  app.post(TRACES_PATH, WRITE_ROUTE, (req, reply) => handle('traces', req, reply, intake));
}

async function handle(signal: OtlpSignal, req: FastifyRequest, reply: FastifyReply, intake: OtlpIntake): Promise<FastifyReply> {
  let encoding: Encoding = 'json';
  try {
    encoding = encodingOf(header(req.headers['content-type']));
    const tenant = tenantOf(req.headers);
    const raw = Buffer.isBuffer(req.body) ? req.body : new Uint8Array(0);
    const body = await decompress(raw, header(req.headers['content-encoding']), intake.opts.maxRequestBytes);
    const r = signal === 'profiles' ? await intake.exportProfiles(body, encoding, tenant) : await intake.exportTraces(body, encoding, tenant);
    return reply
      .code(200)
      .type(CONTENT_TYPES[encoding])
      .send(asBody(encodeExportResponse(encoding, signal === 'profiles' ? 'profiles' : 'spans', r.rejected, r.message)));
  } catch (err) {
    if (!(err instanceof HearthError)) throw err;
    if (err.retryAfter !== undefined) reply.header('Retry-After', String(err.retryAfter));
    if (err.status >= 500) req.log.warn({ err: err.message, url: req.url }, 'OTLP request failed');
    return reply.code(err.status).type(CONTENT_TYPES[encoding]).send(asBody(encodeStatus(encoding, connectCodeForStatus(err.status), err.message)));
  }
}

function asBody(b: Uint8Array | string): Buffer | string {
  return typeof b === 'string' ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function header(v: string | string[] | undefined): string {
  return ((Array.isArray(v) ? v[0] : v) ?? '').trim();
}

export function encodingOf(contentType: string): Encoding {
  const mime = contentType.split(';')[0].trim().toLowerCase();
  if (mime === 'application/x-protobuf' || mime === 'application/protobuf') return 'protobuf';
  if (mime === 'application/json') return 'json';
  throw new UnsupportedMediaTypeError(
    `content type ${JSON.stringify(contentType.slice(0, 100))} is not supported; send application/x-protobuf or application/json`,
  );
}

/** Identity or gzip; the limit holds while inflating, and an oversized result is a 413. */
export async function decompress(body: Uint8Array, contentEncoding: string, maxBytes: number): Promise<Uint8Array> {
  const enc = contentEncoding.toLowerCase();
  if (enc === '' || enc === 'identity') {
    if (body.length > maxBytes) throw new PayloadTooLargeError(`the request is ${body.length} bytes, over the limit of ${maxBytes} bytes`);
    return body;
  }
  if (enc !== 'gzip') throw new UnsupportedMediaTypeError(`content encoding ${JSON.stringify(enc.slice(0, 40))} is not supported; send gzip or none`);
  try {
    return await inflateBoundedAsync(body, maxBytes);
  } catch (err) {
    if (err instanceof ProfileTooLargeError) throw new PayloadTooLargeError(`the request inflates to more than ${maxBytes} bytes`);
    throw err;
  }
}
