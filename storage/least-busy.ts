/**
 * Several connections to one store, used as one: each call goes to the one with the fewest calls
 * running. The embedded engine runs one connection's statements one after another, so work on a
 * single connection waits for whatever runs before it: the queries of one API request (a flame
 * graph and its timeline) and of concurrent requests, or a second flush behind a slow insert.
 * With a few connections they run side by side.
 */
export class LeastBusy<T> {
  private readonly running: number[];

  constructor(private readonly items: T[]) {
    if (!items.length) throw new Error('LeastBusy needs at least one item');
    this.running = items.map(() => 0);
  }

  /** Runs `call` on the least busy item; whatever it reads must be read inside `call`. */
  async use<R>(call: (item: T) => Promise<R>): Promise<R> {
    let best = 0;
    for (let i = 1; i < this.running.length; i++) if (this.running[i] < this.running[best]) best = i;
    this.running[best]++;
    try {
      return await call(this.items[best]);
    } finally {
      this.running[best]--;
    }
  }
}
