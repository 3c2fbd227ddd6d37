/**
 * Gathers encoded batches per subject for a short while before they are published, so that
 * many profiles travel in one JetStream message (one store, one acknowledgement, one index
 * entry on the server instead of one each), and the messages of every subject go out together
 * in one socket write. Each batch's promise settles with the message that holds it, so a
 * client's 2xx still means JetStream acknowledged its profile.
 *
 * A subject's group is shipped when the next batch would take it past `maxBytes`, and every
 * group when `lingerMs` has passed since the oldest batch waiting arrived.
 */

/** One batch waiting in a group, settled once its message is acknowledged. */
export interface Member {
  key: string;
  data: Uint8Array;
  settle: Settle;
}

export interface Settle {
  resolve(): void;
  reject(e: unknown): void;
}

interface Group {
  members: Member[];
  bytes: number;
  /** Keys waiting, so that a client's retry of a batch still waiting joins it instead of being sent twice. */
  byKey: Map<string, Member>;
}

export interface GrouperOptions {
  /** Longest a batch waits for others; 0 ships at the end of the current turn of the event loop. */
  lingerMs: number;
  /** Largest sum of member bytes (plus `memberOverhead` each) one message may carry. */
  maxBytes: () => number;
  memberOverhead: number;
  /** Publishes one group; called for every due group in one synchronous run. */
  ship: (subject: string, members: Member[]) => void;
}

export class Grouper {
  private groups = new Map<string, Group>();
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private lingerMs: number;

  constructor(private readonly opts: GrouperOptions) {
    this.lingerMs = opts.lingerMs;
  }

  /** Batches waiting to be shipped. */
  get waiting(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.members.length;
    return n;
  }

  add(subject: string, key: string, data: Uint8Array): Promise<void> {
    let group = this.groups.get(subject);
    const same = group?.byKey.get(key);
    if (same) return chained(same);
    const size = data.length + this.opts.memberOverhead;
    if (group && group.bytes + size > this.opts.maxBytes()) {
      this.groups.delete(subject);
      this.opts.ship(subject, group.members);
      group = undefined;
    }
    if (!group) {
      group = { members: [], bytes: 0, byKey: new Map() };
      this.groups.set(subject, group);
    }
    let settle!: Settle;
    const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    const member = { key, data, settle };
    group.members.push(member);
    group.byKey.set(key, member);
    group.bytes += size;
    this.arm();
    return done;
  }

  /** Ships every group now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = this.immediate = undefined;
    const due = this.groups;
    this.groups = new Map();
    for (const [subject, group] of due) this.opts.ship(subject, group.members);
  }

  /** From now on ships every batch at the end of its turn: for shutdown, when nothing should wait. */
  stopLingering(): void {
    this.lingerMs = 0;
    this.flush();
  }

  private arm(): void {
    if (this.timer || this.immediate) return;
    if (this.lingerMs > 0) this.timer = setTimeout(() => this.flush(), this.lingerMs);
    else this.immediate = setImmediate(() => this.flush());
  }
}

/** A second promise on a waiting member: the retry learns the same outcome as the original. */
function chained(m: Member): Promise<void> {
  const first = m.settle;
  return new Promise<void>((resolve, reject) => {
    m.settle = {
      resolve() {
        first.resolve();
        resolve();
      },
      reject(e) {
        first.reject(e);
        reject(e);
      },
    };
  });
}
