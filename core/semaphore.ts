/**
 * A counting semaphore whose waiters are served in arrival order: the bound on batches in a
 * pipeline, and on publishes awaiting an acknowledgement.
 */
export class Semaphore {
  private readonly waiters: Array<() => void> = [];
  private held = 0;

  constructor(private readonly size: number) {}

  /** Permits held now. */
  get inUse(): number {
    return this.held;
  }

  /** Callers waiting for a permit. */
  get waiting(): number {
    return this.waiters.length;
  }

  acquire(): Promise<void> {
    if (this.held < this.size) {
      this.held++;
      return Promise.resolve();
    }
    return new Promise((r) => this.waiters.push(r));
  }

  /** Hands the permit straight to the longest waiter, so a newcomer cannot overtake it. */
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.held--;
  }
}
