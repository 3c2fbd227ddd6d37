/**
 * The NATS connection settings and lifecycle shared by the `nats` exporter and the `nats`
 * receiver, so both authenticate and reconnect the same way.
 *
 * A component never waits for NATS to come up: start() makes one attempt and then keeps
 * trying in the background, and once connected the client reconnects on its own for as long
 * as the process runs. Callers look at `connected` to refuse work (503) while NATS is away
 * instead of queueing it in memory.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { z } from 'zod';
import {
  connect,
  credsAuthenticator,
  nkeyAuthenticator,
  type Authenticator,
  type NatsConnection,
  type NodeConnectionOptions,
} from '@nats-io/transport-node';

export const connectionSchema = {
  /** One server or a comma-separated list; the client also learns the rest of a cluster from the servers. */
  url: z.string().min(1),
  auth: z
    .strictObject({
      user: z.string(),
      password: z.string(),
      token: z.string(),
      /** An NKey seed (starts with "SU"). */
      nkey_seed: z.string(),
      /** A `.creds` file (user JWT and NKey seed), as issued by an operator/account setup. */
      credentials_file: z.string(),
    })
    .superRefine((a, ctx) => {
      const used = [a.user || a.password ? 'user/password' : '', a.token ? 'token' : '', a.nkey_seed ? 'nkey_seed' : '', a.credentials_file ? 'credentials_file' : ''].filter(Boolean);
      if (used.length > 1) ctx.addIssue({ code: 'custom', message: `choose one authentication method, got ${used.join(' and ')}` });
      if (a.password && !a.user) ctx.addIssue({ code: 'custom', path: ['user'], message: 'a password needs a user' });
      if (a.nkey_seed && !a.nkey_seed.startsWith('SU')) ctx.addIssue({ code: 'custom', path: ['nkey_seed'], message: 'an NKey user seed starts with "SU"' });
    }),
  tls: z.strictObject({
    /** Require TLS even when no file below is set (server certificate checked against the system CAs). */
    enabled: z.boolean(),
    ca_file: z.string(),
    cert_file: z.string(),
    key_file: z.string(),
  }),
  /** Longest wait for one connection attempt (TCP, TLS and the NATS handshake). */
  connect_timeout_ms: z.number().int().min(100).max(120_000),
  /** Pause between reconnection attempts. */
  reconnect_wait_ms: z.number().int().min(10).max(60_000),
};

export interface ConnectionConfig {
  url: string;
  auth: { user: string; password: string; token: string; nkey_seed: string; credentials_file: string };
  tls: { enabled: boolean; ca_file: string; cert_file: string; key_file: string };
  connect_timeout_ms: number;
  reconnect_wait_ms: number;
}

export function defaultConnectionConfig(): ConnectionConfig {
  return {
    url: 'nats://127.0.0.1:4222',
    auth: { user: '', password: '', token: '', nkey_seed: '', credentials_file: '' },
    tls: { enabled: false, ca_file: '', cert_file: '', key_file: '' },
    connect_timeout_ms: 5_000,
    reconnect_wait_ms: 1_000,
  };
}

export function connectOptions(c: ConnectionConfig, name: string): NodeConnectionOptions {
  const opts: NodeConnectionOptions = {
    servers: c.url.split(',').map((s) => s.trim()).filter(Boolean),
    name,
    timeout: c.connect_timeout_ms,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: c.reconnect_wait_ms,
    reconnectJitter: Math.min(100, c.reconnect_wait_ms),
    // A dead server is noticed within seconds rather than the default two minutes.
    pingInterval: 5_000,
    maxPingOut: 2,
    // Capturing a stack trace for every request costs more than the publish itself at ingest rates.
    noAsyncTraces: true,
  };
  const a = c.auth;
  if (a.user) {
    opts.user = a.user;
    opts.pass = a.password;
  } else if (a.token) {
    opts.token = a.token;
  } else if (a.nkey_seed) {
    const seed = new TextEncoder().encode(a.nkey_seed.trim());
    opts.authenticator = nkeyAuthenticator(seed) as Authenticator;
  } else if (a.credentials_file) {
    const file = a.credentials_file;
    // Read at every (re)connect, so a rotated file is picked up without a restart.
    opts.authenticator = credsAuthenticator(() => readFileSync(file)) as Authenticator;
  }
  const t = c.tls;
  if (t.enabled || t.ca_file || t.cert_file || t.key_file) {
    opts.tls = {
      ...(t.ca_file ? { caFile: t.ca_file } : {}),
      ...(t.cert_file ? { certFile: t.cert_file } : {}),
      ...(t.key_file ? { keyFile: t.key_file } : {}),
    };
  }
  return opts;
}

/**
 * One connection, kept alive for the life of a component. `onConnect` runs after the first
 * connection and after every reconnection (to re-check streams and consumers); the component
 * is "ready" only once it has succeeded.
 */
export class NatsLink {
  nc: NatsConnection | undefined;
  /** The TCP connection is up. */
  connected = false;
  /** Called whenever `ready` changes. */
  onReadyChange: ((ready: boolean) => void) | undefined;
  private isReady = false;
  lastError = '';
  private closing = false;
  private loop: Promise<void> | undefined;
  private preparing: Promise<void> | undefined;
  private readonly sleepers = new Set<() => void>();
  private lastLogged = 0;

  /** Connected, and onConnect has succeeded since. */
  get ready(): boolean {
    return this.isReady;
  }

  private set ready(v: boolean) {
    if (v === this.isReady) return;
    this.isReady = v;
    this.onReadyChange?.(v);
  }

  constructor(
    private readonly config: ConnectionConfig,
    private readonly name: string,
    private readonly logger: Logger,
    private readonly onConnect: (nc: NatsConnection) => Promise<void>,
  ) {}

  /** Makes the first attempt (connect, then onConnect once), then returns; the rest goes on in the background. */
  async start(): Promise<void> {
    let first!: () => void;
    const firstDone = new Promise<void>((r) => (first = r));
    this.loop = this.run(first);
    await firstDone;
  }

  /** Why the link is not ready, for the message of a 503. */
  describe(): string {
    if (!this.nc) return `cannot connect to NATS at ${natsLocation(this.config.url)}${this.lastError ? `: ${this.lastError}` : ''}`;
    if (!this.connected) return `disconnected from NATS at ${natsLocation(this.config.url)}, reconnecting`;
    return `NATS is connected but not ready${this.lastError ? `: ${this.lastError}` : ''}`;
  }

  private async run(first: () => void): Promise<void> {
    let attempt = 0;
    while (!this.closing) {
      let nc: NatsConnection;
      try {
        nc = await connect(connectOptions(this.config, this.name));
      } catch (e) {
        this.fail(`cannot connect to NATS at ${natsLocation(this.config.url)}`, e);
        first();
        await this.sleep(Math.min(this.config.reconnect_wait_ms * 2 ** Math.min(attempt++, 5), 30_000));
        continue;
      }
      attempt = 0;
      if (this.closing) {
        await nc.close().catch(() => {});
        break;
      }
      this.nc = nc;
      this.connected = true;
      this.logger.info({ server: nc.getServer() }, 'connected to NATS');
      const watch = this.watch(nc);
      this.prepare(nc, first);
      await nc.closed();
      await watch;
      this.connected = false;
      this.ready = false;
      if (!this.closing) {
        this.logger.warn('NATS connection closed; connecting again');
        await this.sleep(this.config.reconnect_wait_ms);
      }
    }
    first();
  }

  /**
   * Runs onConnect again, for when the stream or consumer may have gone (deleted by hand, or
   * lost with a server's disk). Does nothing while it is already running or disconnected.
   */
  recheck(): void {
    if (this.nc && this.connected && !this.closing && !this.preparing) {
      this.ready = false;
      this.prepare(this.nc);
    }
  }

  /** Runs onConnect until it succeeds, the connection drops (a reconnect starts it again) or the link closes. */
  private prepare(nc: NatsConnection, afterFirstAttempt?: () => void): void {
    if (this.preparing) {
      afterFirstAttempt?.();
      return;
    }
    this.preparing = (async () => {
      for (let attempt = 0; this.connected && !this.closing && !nc.isClosed(); attempt++) {
        try {
          await this.onConnect(nc);
          this.ready = this.connected && !this.closing;
          this.lastError = '';
          return;
        } catch (e) {
          this.fail('cannot set up JetStream', e);
        } finally {
          afterFirstAttempt?.();
        }
        await this.sleep(Math.min(this.config.reconnect_wait_ms * 2 ** Math.min(attempt, 4), 10_000));
      }
    })().finally(() => (this.preparing = undefined));
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      switch (s.type) {
        case 'disconnect':
          this.connected = false;
          this.ready = false;
          this.logger.warn({ server: s.server }, 'disconnected from NATS');
          break;
        case 'reconnect':
          this.connected = true;
          this.logger.info({ server: s.server }, 'reconnected to NATS');
          this.prepare(nc);
          break;
        case 'error':
          this.fail('NATS error', s.error);
          break;
        default:
          break;
      }
    }
  }

  private fail(what: string, e: unknown): void {
    this.lastError = (e as Error)?.message ?? String(e);
    // One line every few seconds shows the problem without flooding the log.
    const now = Date.now();
    if (now - this.lastLogged > 5_000) {
      this.lastLogged = now;
      this.logger.warn({ err: this.lastError }, what);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.sleepers.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.sleepers.add(done);
    });
  }

  /** Lets in-flight requests finish (drain), then closes, and stops reconnecting. */
  async close(): Promise<void> {
    this.closing = true;
    this.ready = false;
    for (const wake of [...this.sleepers]) wake();
    const nc = this.nc;
    if (nc && !nc.isClosed()) {
      try {
        if (this.connected) await nc.drain();
        else await nc.close();
      } catch {
        await nc.close().catch(() => {});
      }
    }
    await this.preparing;
    await this.loop;
  }
}

/** The servers of a `url` setting as they may be shown (in the start banner): without credentials. */
export function natsLocation(url: string): string {
  return url
    .split(',')
    .map((s) => s.trim().replace(/^([a-z]+:\/\/)?[^@/]*@/i, '$1'))
    .filter(Boolean)
    .join(',');
}
