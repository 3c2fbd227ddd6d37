/**
 * The benchmarks' HTTP load: `concurrency` clients, each pushing real profiles to /ingest one
 * after another over a kept-alive connection, for `seconds`. Only 2xx answers count.
 *
 * It runs on the same cores as the Hearth it loads, so it must cost little: Node's own http client
 * over a keep-alive agent, which took 0.04-0.07 ms of CPU per push at 1,000-1,150 pushes/s. A
 * client of its own on raw sockets took 0.015 ms and did not change the rate measured, so the
 * well-kept client stays.
 */
import { Agent, request } from 'node:http';

/** Services the pushes are spread over, each with 7 instances. */
export const SERVICES = 100;

export interface LoadResult {
  ok: number;
  failed: number;
  elapsed: number;
  /** 2xx answers per body, so that a caller can tell what was acknowledged. */
  okByBody: number[];
}

export async function loadGenerator(url: string, bodies: Buffer[], seconds: number, concurrency: number): Promise<LoadResult> {
  const target = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const okByBody = bodies.map(() => 0);
  let ok = 0;
  let failed = 0;
  let seq = 0;
  const base = Math.floor(Date.now() / 1000) - 3600;
  const started = performance.now();
  const deadline = started + seconds * 1000;

  const post = (path: string, tenant: string, body: Buffer): Promise<number> =>
    new Promise((resolve) => {
      const req = request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          path,
          method: 'POST',
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length, 'X-Scope-OrgID': tenant },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', () => resolve(0));
        },
      );
      // A reset connection is a failed push, as it is for any client.
      req.on('error', () => resolve(0));
      req.end(body);
    });

  async function worker(): Promise<void> {
    while (performance.now() < deadline) {
      const n = seq++;
      // A distinct time per push keeps every profile distinct for idempotency.
      const from = base + (n % 3600);
      const name = `bench-svc-${n % SERVICES}{instance=i${n % 7}}`;
      const status = await post(
        `${target.pathname.replace(/\/$/, '')}/ingest?name=${encodeURIComponent(name)}&format=pprof&from=${from}&until=${from + 10}&seq=${n}`,
        `bench${Math.floor(n / 3600)}`,
        bodies[n % bodies.length],
      );
      if (status >= 200 && status < 300) {
        ok++;
        okByBody[n % bodies.length]++;
      } else failed++;
    }
  }
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    agent.destroy();
  }
  return { ok, failed, elapsed: (performance.now() - started) / 1000, okByBody };
}
