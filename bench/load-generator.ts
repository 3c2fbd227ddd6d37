/**
 * The benchmarks' HTTP load: `concurrency` clients, each pushing real profiles to /ingest one
 * after another over a kept-alive connection, for `seconds`. Only 2xx answers count.
 *
 * It runs on the same cores as the Hearth it loads, so it must cost as little as it can. Each
 * client is one socket speaking HTTP/1.1 itself: a request is one write of a prepared head and the
 * body, and an answer is read by its Content-Length (or chunks). Measured during the ingest
 * benchmark: `fetch` took 1.9 ms of CPU per push, Node's http client with a keep-alive agent
 * 1.1 ms; what the load generator saves is left to the server under test.
 */
import { connect, type Socket } from 'node:net';

/** Services the pushes are spread over, each with 7 instances. */
export const SERVICES = 100;

export interface LoadResult {
  ok: number;
  failed: number;
  elapsed: number;
  /** 2xx answers per body, so that a caller can tell what was acknowledged. */
  okByBody: number[];
}

const HEAD_END = Buffer.from('\r\n\r\n');

/**
 * One kept-alive HTTP/1.1 connection, one request at a time. Resolves each request with the
 * answer's status, or 0 when the connection failed; the caller then opens a new one.
 */
class Connection {
  private buffered: Buffer = Buffer.alloc(0);
  private waiting: ((status: number) => void) | undefined;
  private closed = false;
  private closeAfter = false;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
      this.parse();
    });
    const fail = () => {
      this.closed = true;
      this.settle(0);
    };
    socket.on('error', fail);
    socket.on('close', fail);
  }

  static open(host: string, port: number): Promise<Connection | undefined> {
    return new Promise((resolve) => {
      const socket = connect({ host, port });
      socket.once('connect', () => resolve(new Connection(socket)));
      socket.once('error', () => resolve(undefined));
    });
  }

  get usable(): boolean {
    return !this.closed && !this.closeAfter;
  }

  post(head: string, body: Buffer): Promise<number> {
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.socket.cork();
      this.socket.write(head, 'latin1');
      this.socket.write(body);
      this.socket.uncork();
    });
  }

  close(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private settle(status: number): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.(status);
  }

  /** Consumes one whole answer when it has arrived. */
  private parse(): void {
    const end = this.buffered.indexOf(HEAD_END);
    if (end < 0) return;
    const head = this.buffered.toString('latin1', 0, end);
    const status = Number(head.slice(9, 12));
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    let bodyEnd: number;
    if (length) {
      bodyEnd = end + 4 + Number(length[1]);
      if (this.buffered.length < bodyEnd) return;
    } else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
      const last = this.buffered.indexOf('\r\n0\r\n\r\n', end + 2);
      if (last < 0) return;
      bodyEnd = last + 7;
    } else {
      bodyEnd = end + 4;
    }
    if (/\r\nconnection:\s*close/i.test(head)) this.closeAfter = true;
    this.buffered = this.buffered.subarray(bodyEnd);
    this.settle(Number.isFinite(status) ? status : 0);
  }
}

export async function loadGenerator(url: string, bodies: Buffer[], seconds: number, concurrency: number): Promise<LoadResult> {
  const target = new URL(url);
  const host = target.hostname;
  const port = Number(target.port || 80);
  const prefix = target.pathname.replace(/\/$/, '');
  const okByBody = bodies.map(() => 0);
  let ok = 0;
  let failed = 0;
  let seq = 0;
  const base = Math.floor(Date.now() / 1000) - 3600;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const open = new Set<Connection>();

  async function worker(): Promise<void> {
    let conn: Connection | undefined;
    while (performance.now() < deadline) {
      if (!conn?.usable) {
        conn?.close();
        if (conn) open.delete(conn);
        conn = await Connection.open(host, port);
        if (!conn) {
          failed++;
          await new Promise((res) => setTimeout(res, 50));
          continue;
        }
        open.add(conn);
      }
      const n = seq++;
      // A distinct time per push keeps every profile distinct for idempotency.
      const from = base + (n % 3600);
      const name = `bench-svc-${n % SERVICES}{instance=i${n % 7}}`;
      const body = bodies[n % bodies.length];
      const path = `${prefix}/ingest?name=${encodeURIComponent(name)}&format=pprof&from=${from}&until=${from + 10}&seq=${n}`;
      const head =
        `POST ${path} HTTP/1.1\r\nHost: ${target.host}\r\nContent-Type: application/octet-stream\r\n` +
        `Content-Length: ${body.length}\r\nX-Scope-OrgID: bench${Math.floor(n / 3600)}\r\n\r\n`;
      // A reset connection is a failed push, as it is for any client.
      const status = await conn.post(head, body);
      if (status >= 200 && status < 300) {
        ok++;
        okByBody[n % bodies.length]++;
      } else failed++;
    }
  }
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    for (const c of open) c.close();
  }
  return { ok, failed, elapsed: (performance.now() - started) / 1000, okByBody };
}
