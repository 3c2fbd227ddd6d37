/**
 * OTLP/gRPC: the two unary Export methods, served on a Fastify server that speaks cleartext
 * HTTP/2 (core/h2c.ts). gRPC's framing is small enough to handle here, which keeps the request
 * bytes going to the receiver's own decoder (with its size limits and partial success) instead
 * of a generated one: a 5-byte prefix (compressed flag, big-endian length) before the message,
 * and the status in trailers, or in the headers alone when there is no message ("trailers-only").
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Code } from '@connectrpc/connect';
import { connectCodeForStatus } from '../../core/connect-errors.ts';
import { BadRequestError, HearthError } from '../../core/errors.ts';
import { WRITE_ROUTE } from '../../core/auth.ts';
import { tenantOf } from '../../core/http.ts';
import { encodeExportResponse } from '../../formats/otlp/index.ts';
import { decompress } from './http.ts';
import { SignalNotConfiguredError, type OtlpIntake, type OtlpSignal } from './intake.ts';

export const PROFILES_METHOD = '/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export';
export const TRACES_METHOD = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

export function registerGrpcRoutes(app: FastifyInstance, intake: OtlpIntake): void {
  app.post(PROFILES_METHOD, WRITE_ROUTE, (req, reply) => handle('profiles', req, reply, intake));
  app.post(TRACES_METHOD, WRITE_ROUTE, (req, reply) => handle('traces', req, reply, intake));
}

async function handle(signal: OtlpSignal, req: FastifyRequest, reply: FastifyReply, intake: OtlpIntake): Promise<void> {
  const contentType = String(req.headers['content-type'] ?? '').toLowerCase();
  if (!(contentType === 'application/grpc' || contentType.startsWith('application/grpc+proto') || contentType.startsWith('application/grpc;'))) {
    await reply.code(415).type('text/plain').send(`${req.url} is a gRPC method: send application/grpc`);
    return;
  }
  reply.hijack();
  const res = reply.raw;
  try {
    const message = await unframe(Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0), String(req.headers['grpc-encoding'] ?? 'identity'), intake.opts.maxRequestBytes);
    const tenant = tenantOf(req.headers);
    const r = signal === 'profiles' ? await intake.exportProfiles(message, 'protobuf', tenant) : await intake.exportTraces(message, 'protobuf', tenant);
    const body = encodeExportResponse('protobuf', signal === 'profiles' ? 'profiles' : 'spans', r.rejected, r.message) as Uint8Array;
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    frame.set(body, 5);
    res.writeHead(200, { 'content-type': 'application/grpc' });
    res.write(frame);
    res.addTrailers({ 'grpc-status': '0', 'grpc-message': '' });
    res.end();
  } catch (err) {
    const headers: Record<string, string> = { 'content-type': 'application/grpc' };
    if (err instanceof HearthError) {
      const code = err instanceof SignalNotConfiguredError ? Code.Unimplemented : connectCodeForStatus(err.status);
      headers['grpc-status'] = String(code);
      headers['grpc-message'] = encodeURIComponent(err.message);
      // gRPC clients read a server's wish for a delay from this trailer.
      if (err.retryAfter !== undefined) headers['grpc-retry-pushback-ms'] = String(err.retryAfter * 1000);
    } else {
      req.log.error({ err }, 'OTLP gRPC request failed');
      headers['grpc-status'] = String(Code.Internal);
      headers['grpc-message'] = 'internal error';
    }
    res.writeHead(200, headers);
    res.end();
  }
}

/** The one message of a unary call, inflated when its flag says so. */
async function unframe(body: Buffer, grpcEncoding: string, maxBytes: number): Promise<Uint8Array> {
  if (body.length < 5) throw new BadRequestError(`a gRPC request needs a 5-byte message prefix, got ${body.length} bytes`);
  const compressed = body[0];
  const len = body.readUInt32BE(1);
  if (compressed > 1) throw new BadRequestError(`invalid gRPC message flag ${compressed}`);
  if (body.length !== 5 + len) throw new BadRequestError(`the gRPC message prefix says ${len} bytes, but ${body.length - 5} follow (a unary call carries one message)`);
  const msg = body.subarray(5);
  if (compressed === 0) return decompress(msg, '', maxBytes);
  const enc = grpcEncoding.toLowerCase();
  if (enc !== 'gzip') throw new BadRequestError(`grpc-encoding ${JSON.stringify(enc.slice(0, 40))} is not supported; use gzip or none`);
  return decompress(msg, 'gzip', maxBytes);
}
