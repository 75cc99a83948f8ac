/** @module Named gates of the sim's `hold` rules: requests wait at a gate until a test opens it. */

/** Gates of `hold` rules: requests wait at a named gate until it is opened. */
export interface SimGates {
  /** Opens the gate: requests held there are answered, and later ones pass at once. */
  open(name: string): void;
  /** Resolves once `count` requests have arrived at the gate (held or passed). */
  arrived(name: string, count?: number): Promise<void>;
}

export class Gates implements SimGates {
  private readonly opened = new Set<string>();
  private readonly waiting = new Map<string, (() => void)[]>();
  private readonly arrivals = new Map<string, number>();
  private readonly watchers: { name: string; count: number; resolve: () => void }[] = [];

  /** Arrives at the gate; resolves when it is (or was) opened. */
  pass(name: string): Promise<void> {
    this.arrivals.set(name, this.count(name) + 1);
    for (const w of this.watchers.filter((w) => w.name === name && this.count(name) >= w.count)) {
      this.watchers.splice(this.watchers.indexOf(w), 1);
      w.resolve();
    }
    if (this.opened.has(name)) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.waiting.get(name) ?? [];
      list.push(resolve);
      this.waiting.set(name, list);
    });
  }

  count(name: string): number {
    return this.arrivals.get(name) ?? 0;
  }

  open(name: string): void {
    this.opened.add(name);
    for (const resolve of this.waiting.get(name) ?? []) resolve();
    this.waiting.delete(name);
  }

  arrived(name: string, count = 1): Promise<void> {
    if (this.count(name) >= count) return Promise.resolve();
    return new Promise((resolve) => this.watchers.push({ name, count, resolve }));
  }
}

/** Rejects when `signal` aborts (never resolves otherwise). */
export function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}
