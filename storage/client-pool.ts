/**
 * Several clients of one store, used as one: each call goes to the client with the fewest calls
 * running. The embedded engine runs one connection's statements one after another, so the
 * queries of one API request (a flame graph and its timeline) and those of concurrent requests
 * wait for each other on a single connection; with a few, they run side by side, and one slow
 * query no longer holds up every other.
 */
import type { ClickHouseClient } from '@clickhouse/client';

export class ClientPool {
  private readonly running: number[];

  constructor(private readonly clients: ClickHouseClient[]) {
    if (!clients.length) throw new Error('a client pool needs at least one client');
    this.running = clients.map(() => 0);
  }

  /** Runs `call` on the least busy client; the result must be read inside `call`. */
  async use<T>(call: (client: ClickHouseClient) => Promise<T>): Promise<T> {
    let best = 0;
    for (let i = 1; i < this.running.length; i++) if (this.running[i] < this.running[best]) best = i;
    this.running[best]++;
    try {
      return await call(this.clients[best]);
    } finally {
      this.running[best]--;
    }
  }
}
