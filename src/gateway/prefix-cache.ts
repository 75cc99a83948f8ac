/**
 * How much of a request a prefix cache could serve: the longest common token
 * prefix with the previous request of the same conversation, the way Anthropic
 * and OpenAI cache. Bounded: the oldest conversations are forgotten first.
 */
export class PrefixTracker {
  private readonly last = new Map<string, Uint32Array | number[]>();
  constructor(private readonly capacity = 512) {}

  observe(conversation: string, tokens: number[]): number {
    const previous = this.last.get(conversation);
    this.last.delete(conversation);
    this.last.set(conversation, tokens);
    if (this.last.size > this.capacity) {
      const oldest = this.last.keys().next().value;
      if (oldest !== undefined) this.last.delete(oldest);
    }
    if (!previous) return 0;
    return commonPrefixLength(previous, tokens);
  }

  clear(): void {
    this.last.clear();
  }
}

export function commonPrefixLength(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}
