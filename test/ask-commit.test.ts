// An answered ask whose journal commit fails is not swallowed (issue 10 §3): the script never sees
// an answer that was not written, the run ends with the failure (LEASE_LOST for a lost lease), and
// nothing after the ask runs.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { LeaseLostError } from '../src/core/errors.js';
import type { CallRecord, Store } from '../src/store/index.js';
import { answerQuestion, runWorkflow } from '../src/workflow/index.js';
import { ccScript, gateway, tempDir, tempStore, waitFor } from './helpers.js';

const SCENARIO = `
rules:
  - name: slow
    match: { prompt: '^slow' }
    latency_ms: 600000
    turns: [{ text: 'too late' }]
`;

/**
 * The run's store, except that right before the answered ask is committed another process takes
 * the run's lease (a real SQLite write from a second connection), so the fenced commit is refused.
 */
function stealLeaseBeforeAskCommit(store: Store, path: string): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop !== 'recordCalls') return typeof value === 'function' ? value.bind(target) : value;
      return async (calls: CallRecord[], ...rest: unknown[]) => {
        const ask = calls.find((c) => c.kind === 'ask' && c.status === 'finished');
        if (ask) {
          const thief = new Database(path);
          thief.prepare("UPDATE runs SET lease_token = 'thief', lease_expires_at = ? WHERE id = ?").run(Date.now() + 600_000, ask.runId);
          thief.close();
        }
        return (value as (...a: unknown[]) => Promise<void>).apply(target, [calls, ...rest]);
      };
    },
  });
}

describe('an answered ask whose commit fails', () => {
  for (const [what, body] of [
    [
      'awaited',
      `await parallel([
         async () => { const answer = await ask('Which region?'); await sh('touch after-' + answer); },
         () => agent('slow work'),
       ]);
       return 'done';`,
    ],
    [
      'caught by the script',
      `await parallel([
         async () => {
           let answer;
           try { answer = await ask('Which region?'); } catch { answer = 'caught'; }
           await sh('touch after-' + answer);
         },
         () => agent('slow work'),
       ]);
       return 'done';`,
    ],
  ] as const) {
    it(`${what}: the run ends with LEASE_LOST and nothing after the ask runs`, async () => {
      const dir = tempDir();
      const { store, path } = tempStore(dir);
      const gw = await gateway(SCENARIO);
      const running = runWorkflow({
        store: stealLeaseBeforeAskCommit(store, path),
        workdir: dir,
        gateway: gw.url,
        script: ccScript(dir, body),
      });
      // Answer from another connection while the slow agent keeps the run going.
      const [run] = await waitFor(async () => {
        const runs = await store.listRuns();
        return runs[0] && (await store.listQuestions(runs[0].id)).length > 0 ? runs : undefined;
      });
      const [question] = await store.listQuestions((run as { id: string }).id);
      await answerQuestion(store, (run as { id: string }).id, (question as { id: string }).id, 'eu');
      const err = await running.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(LeaseLostError);
      expect(err).toMatchObject({ code: 'LEASE_LOST', exitCode: 5 });
      expect(existsSync(join(dir, 'after-eu'))).toBe(false);
      expect(existsSync(join(dir, 'after-caught'))).toBe(false);
      // The new holder's run is untouched: this driver wrote no outcome.
      expect((await store.getRun((run as { id: string }).id))?.status).toBe('running');
    });
  }
});
