import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { utcDay } from '../src/budget/index.js';
import { ROOT, tempStore } from './helpers.js';

const RACER = join(ROOT, 'test', 'fixtures', 'caps-racer.mjs');

/** Starts a racer; resolves once it is ready, with a function that says go and awaits its JSON line. */
function racer(
  path: string,
  limit: number,
  count: number,
): Promise<{ go: () => Promise<{ held: number; refused: number; waits: number }> }> {
  const child = spawn(process.execPath, [RACER, path, String(limit), String(count)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<number | null>((r) => child.on('exit', r));
  return new Promise((ready, fail) => {
    child.stdout.on('data', (d) => {
      out += d;
      if (out.startsWith('ready\n'))
        ready({
          go: async () => {
            child.stdin.write('go\n');
            const code = await exited;
            if (code !== 0) throw new Error(`racer exited ${code}: ${err}`);
            return JSON.parse(out.trim().split('\n').at(-1) as string);
          },
        });
    });
    exited.then((code) => fail(new Error(`racer exited ${code} before it was ready: ${err}`)));
  });
}

describe('caps across processes', () => {
  it('two processes racing reservations against one daily cap never spend past it', async () => {
    const { store, path } = tempStore();
    const limit = 1;
    const [a, b] = await Promise.all([racer(path, limit, 40), racer(path, limit, 40)]);
    const [ra, rb] = await Promise.all([a.go(), b.go()]);
    const state = (await store.reservations.capStates([{ scope: 'store-day', key: utcDay(Date.now()), limitUsd: limit }], Date.now()))[0];
    // 80 requests of 0.05–0.10 USD each, fully spent, against 1 USD: most must be refused.
    expect(ra.held + ra.refused + rb.held + rb.refused).toBe(80);
    expect(ra.refused + rb.refused).toBeGreaterThan(60);
    expect(state?.spentUsd).toBeLessThanOrEqual(limit + 1e-9);
    // The cap was used, not just refused: what is left is less than the largest request.
    expect(state?.spentUsd).toBeGreaterThan(limit - 0.1);
    expect(state?.reservedUsd).toBe(0);
  });
});
