/**
 * Connect answers a binary request body it cannot parse with `internal` (HTTP 500): its own
 * serialization reports every protobuf decoding failure that way. The bytes are the client's, so
 * this hook rewrites exactly that answer, one whose message starts "parse binary:", into
 * `invalid_argument` (400). Every other answer, other 500s included, passes through untouched.
 */
import type { FastifyInstance } from 'fastify';

type Headers = Record<string, string | string[] | number | undefined>;
const PARSE_FAILURE = /^parse binary: /;

export function refuseUnparsableConnectBodies(scope: FastifyInstance): void {
  scope.addHook('onRequest', async (_req, reply) => {
    const res = reply.raw as unknown as {
      writeHead(status: number, headers?: Headers): unknown;
      write(chunk: unknown, enc?: unknown, cb?: unknown): boolean;
      end(chunk?: unknown, enc?: unknown, cb?: unknown): unknown;
    };
    const writeHead = res.writeHead.bind(res);
    const write = res.write.bind(res);
    const end = res.end.bind(res);
    let held: { headers: Headers } | undefined;
    const chunks: Buffer[] = [];
    res.writeHead = (status: number, headers?: Headers) => {
      // Connect writes the head again when it sees none sent yet: a held head stays held.
      if (held) return res;
      // Only a 500's body decides; everything else is written as it comes.
      if (status !== 500) return writeHead(status, headers);
      held = { headers: { ...headers } };
      return res;
    };
    res.write = (chunk: unknown, enc?: unknown, cb?: unknown) => {
      if (!held) return write(chunk, enc, cb);
      chunks.push(Buffer.from(chunk as Uint8Array));
      const callback = typeof enc === 'function' ? enc : cb;
      if (typeof callback === 'function') process.nextTick(callback as () => void);
      return true;
    };
    res.end = (chunk?: unknown, enc?: unknown, cb?: unknown) => {
      if (!held) return end(chunk, enc, cb);
      if (chunk !== undefined && typeof chunk !== 'function') chunks.push(Buffer.from(chunk as Uint8Array));
      let status = 500;
      let body = Buffer.concat(chunks);
      try {
        const err = JSON.parse(body.toString('utf8')) as { code?: string; message?: string };
        if (err.code === 'internal' && PARSE_FAILURE.test(err.message ?? '')) {
          status = 400;
          body = Buffer.from(JSON.stringify({ code: 'invalid_argument', message: `the request is not a valid protobuf message: ${err.message!.replace(PARSE_FAILURE, '')}` }));
        }
      } catch {
        // Not a Connect error body: leave the answer as it was.
      }
      const headers = held.headers;
      for (const k of Object.keys(headers)) if (k.toLowerCase() === 'content-length') delete headers[k];
      headers['content-length'] = body.length;
      writeHead(status, headers);
      return end(body, typeof chunk === 'function' ? chunk : typeof enc === 'function' ? enc : cb);
    };
  });
}
