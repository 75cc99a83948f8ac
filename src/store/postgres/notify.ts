import type pg from 'pg';
import type { PgDb, Queryable } from './db.js';

/**
 * How long a payload's last NOTIFY is remembered for a late wait (ms). Older ones are forgotten so
 * the map does not grow with every run ever notified; a wait whose `since` is older only falls
 * back to its timeout (callers poll after it), never misses work.
 */
const REMEMBER_MS = 10 * 60_000;

/**
 * LISTEN/NOTIFY for one store: a dedicated connection (lazily opened on the first wait) that
 * listens on the channels waiters ask for, and wakes every waiter of a channel when a NOTIFY
 * arrives from any connection on any machine. A lost connection only makes waiters fall back to
 * their timeout (they poll); the next wait opens a new one.
 */
export class PgNotifier {
  private client: Promise<pg.Client> | undefined;
  private readonly listening = new Map<string, Promise<unknown>>();
  private readonly waiters = new Map<string, Set<(payload: string) => void>>();
  /** When each channel last carried each payload (epoch ms): a wait that starts late still sees it. */
  private readonly last = new Map<string, Map<string, number>>();
  private lastPrunedAt = 0;
  private closed = false;

  constructor(private readonly db: PgDb) {}

  /** A channel name of this store (its schema in it): `prefix` + schema, at most 63 bytes. */
  channel(prefix: string): string {
    return `${prefix}_${this.db.schema ?? 'public'}`.slice(0, 63);
  }

  /** Sends `payload` on `channel` when the transaction of `q` commits (at once outside one). */
  async notify(q: Queryable, channel: string, payload: string): Promise<void> {
    await q.query('SELECT pg_notify($1, $2)', [channel, payload]);
  }

  /**
   * Resolves on the next NOTIFY on `channel` whose payload `accept` takes (default: any), after
   * `timeoutMs`, or when `signal` aborts — whichever comes first; at once when such a NOTIFY came at
   * or after `since` (epoch ms: when the caller last looked). Never rejects.
   */
  async wait(
    channel: string,
    timeoutMs: number,
    signal?: AbortSignal,
    accept: (payload: string) => boolean = () => true,
    since?: number,
  ): Promise<void> {
    if (signal?.aborted || this.closed) return;
    // A notification that came between the caller's look and this wait is not lost.
    if (since !== undefined) {
      for (const [payload, at] of this.last.get(channel) ?? []) if (at >= since && accept(payload)) return;
    }
    let wake: (payload: string) => void = () => {};
    const woken = new Promise<void>((resolve) => {
      const timer = setTimeout(finish, timeoutMs);
      const onAbort = () => finish();
      signal?.addEventListener('abort', onAbort, { once: true });
      function finish() {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }
      wake = (payload) => {
        if (accept(payload)) finish();
      };
    });
    const set = this.waiters.get(channel) ?? new Set<(payload: string) => void>();
    this.waiters.set(channel, set);
    set.add(wake);
    try {
      await this.listen(channel).catch(() => {});
      await woken;
    } finally {
      set.delete(wake);
    }
  }

  /** Resolves once the LISTEN is in place (every waiter of the channel waits for the same one). */
  private async listen(channel: string): Promise<void> {
    const client = await this.connect();
    let listening = this.listening.get(channel);
    if (!listening) {
      listening = client.query(`LISTEN "${channel.replaceAll('"', '""')}"`);
      this.listening.set(channel, listening);
      listening.catch(() => this.listening.delete(channel));
    }
    await listening;
  }

  private connect(): Promise<pg.Client> {
    this.client ??= (async () => {
      const client = await this.db.connectDedicated();
      client.on('notification', (n) => {
        const now = Date.now();
        const seen = this.last.get(n.channel) ?? new Map<string, number>();
        this.last.set(n.channel, seen);
        // Re-inserted so each map stays ordered oldest first, and pruning stops at the first recent one.
        seen.delete(n.payload ?? '');
        seen.set(n.payload ?? '', now);
        if (now - this.lastPrunedAt > REMEMBER_MS / 10) this.forgetBefore(now - REMEMBER_MS);
        for (const w of [...(this.waiters.get(n.channel) ?? [])]) w(n.payload ?? '');
      });
      client.on('error', () => {
        // Waiters keep their timeouts; the next wait listens again on a new connection.
        this.client = undefined;
        this.listening.clear();
        client.end().catch(() => {});
      });
      return client;
    })();
    const pending = this.client;
    pending.catch(() => {
      if (this.client === pending) this.client = undefined;
    });
    return pending;
  }

  /** Drops payloads last notified before `cutoff` (epoch ms). */
  private forgetBefore(cutoff: number): void {
    this.lastPrunedAt = Date.now();
    for (const seen of this.last.values()) {
      for (const [payload, at] of seen) {
        if (at >= cutoff) break;
        seen.delete(payload);
      }
    }
  }

  /** How many payloads are remembered across channels (for tests). */
  get remembered(): number {
    let n = 0;
    for (const seen of this.last.values()) n += seen.size;
    return n;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const set of this.waiters.values()) for (const w of set) w('');
    const client = this.client;
    this.client = undefined;
    if (client) await (await client.catch(() => undefined))?.end().catch(() => {});
  }
}
