/**
 * The web UI on the shared port: the page at `/` and at every view's path, and its script and
 * stylesheet at `/ui/`. The bundle is built from `ui/src` with esbuild on the first request and
 * kept in memory (gzipped once), so a fresh checkout serves it with nothing to build first and
 * nothing is fetched from elsewhere. The page calls the same public routes, with the tenant the
 * user picks sent as X-Scope-OrgID.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { tenantOf } from '../core/http.ts';

const UI_DIR = new URL('../ui/', import.meta.url);

/** The paths of the UI's views; each answers the same page, which renders the view from its URL. */
export const UI_PATHS = ['/', '/diff', '/profiles', '/profile/:id', '/trace', '/trace/:traceId'];

interface Asset {
  body: Buffer;
  gzip: Buffer;
  type: string;
}

interface Bundle {
  page: Asset;
  assets: Map<string, Asset>;
}

function asset(body: Buffer, type: string): Asset {
  return { body, gzip: gzipSync(body, { level: 9 }), type };
}

async function build(): Promise<Bundle> {
  // Imported here: only a process that serves the page pays for loading the bundler.
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: { app: new URL('src/main.ts', UI_DIR).pathname },
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['chrome109', 'firefox115', 'safari16'],
    outdir: '/',
    write: false,
    logLevel: 'silent',
    legalComments: 'none',
  });
  const assets = new Map<string, Asset>();
  const hash = createHash('sha256');
  for (const f of result.outputFiles) {
    const name = f.path.slice(f.path.lastIndexOf('/') + 1);
    const type = name.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8';
    assets.set(name, asset(Buffer.from(f.contents), type));
    hash.update(f.contents);
  }
  const version = hash.digest('hex').slice(0, 12);
  const html = (await readFile(new URL('index.html', UI_DIR), 'utf8')).replaceAll('%VERSION%', version);
  return { page: asset(Buffer.from(html), 'text/html; charset=utf-8'), assets };
}

let bundle: Promise<Bundle> | undefined;

/** The built bundle, built once per process; a failed build is retried on the next request. */
export function uiBundle(): Promise<Bundle> {
  bundle ??= build().catch((err: unknown) => {
    bundle = undefined;
    throw err;
  });
  return bundle;
}

function send(req: FastifyRequest, reply: FastifyReply, a: Asset, cache: string): FastifyReply {
  const accepts = String(req.headers['accept-encoding'] ?? '');
  reply.type(a.type).header('Cache-Control', cache).header('Vary', 'Accept-Encoding').header('X-Content-Type-Options', 'nosniff');
  if (/\bgzip\b/.test(accepts)) return reply.header('Content-Encoding', 'gzip').send(a.gzip);
  return reply.send(a.body);
}

export function registerUiRoutes(app: FastifyInstance): void {
  const page = async (req: FastifyRequest, reply: FastifyReply) => {
    // The page shows no tenant's data, but a malformed tenant header is refused here as on every route.
    tenantOf(req.headers);
    const b = await uiBundle();
    // The page names its assets by content hash, so only the page itself must be revalidated.
    reply.header('Content-Security-Policy', "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'");
    return send(req, reply, b.page, 'no-cache');
  };
  for (const path of UI_PATHS) app.get(path, page);
  app.get('/ui/:file', async (req, reply) => {
    const { file } = req.params as { file: string };
    const a = (await uiBundle()).assets.get(file);
    if (!a) return reply.status(404).send({ code: 404, message: `no UI asset ${JSON.stringify(file.slice(0, 64))}` });
    return send(req, reply, a, 'public, max-age=31536000, immutable');
  });
}
