// A small seeded PRNG (mulberry32) for the stress and fuzz benches: the same seed gives the same
// moments and inputs, so a failure can be reproduced from the seed a run prints.

/** A seed from `text` (a whole number), else a fresh one from the clock. */
export function seedFrom(text) {
  if (text !== undefined && text !== '') {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff)
      throw new Error(`seed must be a whole number from 0 to 4294967295, got ${JSON.stringify(text)}`);
    return n;
  }
  return (Date.now() ^ (process.pid << 16)) >>> 0;
}

/** mulberry32: `next()` in [0, 1), `int(lo, hi)` inclusive, `pick(list)`, `bytes(n)`. */
export function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1));
  return {
    next,
    int,
    pick: (list) => list[int(0, list.length - 1)],
    bytes: (n) => Buffer.from(Array.from({ length: n }, () => int(0, 255))),
    chance: (p) => next() < p,
  };
}
