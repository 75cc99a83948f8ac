import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { WorkflowApi } from '../src/workflow/api.js';
import { runWorkflow } from '../src/workflow/index.js';
import { runInSandbox } from '../src/workflow/sandbox.js';
import { ccScript, cli, lastJson, tempDir, tempStore, write } from './helpers.js';

/** Nothing a script does can hang or kill the driver (issue 10 §3). */
describe('a script cannot hang or kill the driver', () => {
  for (const [what, body] of [
    ['a rejected promise nobody handles', `Promise.reject(new Error('nobody handles me'));\nawait sleep(600000);\nreturn 1;`],
    ['sh() with a bad argument fired without await', `sh(123);\nawait sleep(600000);\nreturn 1;`],
    ['agent() with a bad drover option fired without await', `agent('x', { maxTurns: -1 });\nawait sleep(600000);\nreturn 1;`],
    ['a rejection left unhandled by a script that returns at once', `Promise.reject(new Error('nobody handles me'));\nreturn 'ok';`],
  ] as const) {
    it(`${what}: the run fails with the script's error, the process exits cleanly`, async () => {
      const dir = tempDir();
      const script = ccScript(dir, body);
      const r = await cli(['run', script, '--json'], { env: { DROVER_STORE: join(dir, 'd.db') }, cwd: dir });
      expect(r.code, r.stderr).toBe(1);
      const s = lastJson(r.stdout);
      expect(s.status).toBe('failed');
      expect(JSON.stringify(s.error)).toMatch(/nobody handles me|sh\(\): command must be|options\.maxTurns/);
      expect(r.stderr).not.toMatch(/UnhandledPromiseRejection|node:internal/);
      const status = await cli(['status', String(s.runId), '--json'], { env: { DROVER_STORE: join(dir, 'd.db') }, cwd: dir });
      expect(lastJson(status.stdout).status).toBe('failed');
    });
  }

  it('awaiting a promise nothing can settle fails the run with a clear message', async () => {
    const dir = tempDir();
    const { store } = tempStore(dir);
    const s = await runWorkflow({
      store,
      workdir: dir,
      script: ccScript(dir, `await sh('true');\nawait new Promise(() => {});\nreturn 1;`),
    });
    expect(s.status).toBe('failed');
    expect(s.error).toMatchObject({ code: 'SCRIPT_STUCK' });
    expect(s.error?.message).toMatch(/awaits a promise that nothing can settle/);
  });

  it('a call that settled stays pending until its result has entered the script (no SCRIPT_STUCK in that gap)', async () => {
    // Results enter the script's context a turn after they settle; the stuck check must not see
    // "nothing in flight" in between (a busy machine once failed a healthy run as SCRIPT_STUCK).
    let pending = 0;
    const host = {
      track<T>(work: Promise<T>): Promise<T> {
        pending++;
        return work.finally(() => {
          pending--;
        });
      },
    };
    let answer: ((value: unknown) => void) | undefined;
    const api = { sh: () => new Promise((resolve) => (answer = resolve)) } as unknown as WorkflowApi;
    const done = runInSandbox('const r = await sh("x");\nreturn r.stdout;', 'wf.js', api, host);
    expect(answer).toBeTypeOf('function');
    answer?.({ stdout: 'ok', stderr: '', exitCode: 0 });
    for (let i = 0; i < 20; i++) await Promise.resolve(); // microtasks only: the settlement's turn has not come
    expect(pending).toBe(1);
    await expect(done).resolves.toBe('ok');
    expect(pending).toBe(0);
  });

  it('a call already answered (a replayed one) counts as pending until its answer enters the script', async () => {
    // The stuck check asks the host what is pending. A replayed call settles at once, but its answer
    // enters the script's context a turn later: found by the crash bench, a resume that replayed many
    // calls on a busy machine failed SCRIPT_STUCK because every poll fell in that gap.
    let pending = 0;
    const host = {
      track: <T>(work: Promise<T>) => {
        pending++;
        return work.finally(() => pending--);
      },
    };
    const seen: number[] = [];
    const api = {
      agent: (prompt: string) => {
        const answer = Promise.resolve(`answer to ${prompt}`);
        // Runs after the sandbox's own reaction to the answer (registered later, on the same promise).
        answer.then(() => Promise.resolve().then(() => seen.push(pending)));
        return answer;
      },
    } as unknown as WorkflowApi;
    const result = await runInSandbox(`return [await agent('a'), await agent('b')];`, 'wf.js', api, host);
    expect(result).toEqual(['answer to a', 'answer to b']);
    expect(seen).toEqual([1, 1]);
    await new Promise((r) => setImmediate(r)); // the last entry's bookkeeping ends after the script returned
    expect(pending).toBe(0);
  });

  it('a script waiting on its own timer is not taken for stuck', async () => {
    const dir = tempDir();
    const { store } = tempStore(dir);
    const s = await runWorkflow({
      store,
      workdir: dir,
      script: ccScript(dir, `await new Promise((r) => setTimeout(r, 700));\nreturn 'woke';`),
    });
    expect(s).toMatchObject({ status: 'completed', result: 'woke' });
  });

  it('a sleep longer than 2^31-1 ms sleeps (it does not return at once), and is resumable', async () => {
    const dir = tempDir();
    const { store } = tempStore(dir);
    const stop = new AbortController();
    const running = runWorkflow({
      store,
      workdir: dir,
      signal: stop.signal,
      script: ccScript(dir, `await sleep(2 ** 31 + 5000);\nreturn 'woke';`),
      onEvent: (e) => {
        // Stop the run a little later: an overflowing timer would have fired after ~1 ms and completed it.
        // (Under load this can only miss the bug, never fail a correct sleep, which lasts 24 days.)
        if (e.type === 'run') setImmediate(() => setTimeout(() => stop.abort('test'), 300));
      },
    });
    const s = await running;
    expect(s.status).not.toBe('completed');
    const calls = await store.listCalls(s.runId);
    const sleep = calls.find((c) => c.kind === 'sleep');
    expect(sleep?.status).toBe('started');
    expect((sleep?.inputs as { wakeAt: number } | undefined)?.wakeAt).toBeGreaterThan(Date.now() + 2 ** 31);
  });

  it('a result over the size limit fails the run naming the limit', async () => {
    const dir = tempDir();
    const { store } = tempStore(dir);
    const s = await runWorkflow({ store, workdir: dir, script: ccScript(dir, `return 'x'.repeat(11 * 1024 * 1024);`) });
    expect(s.status).toBe('failed');
    expect(s.error).toMatchObject({ code: 'RESULT_TOO_LARGE' });
    expect(s.error?.message).toMatch(/limit is 10485760/);
    expect((await store.getRun(s.runId))?.result).toBeNull();
  });
});

describe('what the system refuses is bad input, never a hang or an internal error', () => {
  it('tasks export/sync into a folder that cannot be made exit 2 at once (Node would loop forever on /proc)', async () => {
    const dir = tempDir();
    const env = { DROVER_STORE: join(dir, 'd.db') };
    expect((await cli(['tasks', 'add', 'x', '--list', 'L1'], { env, cwd: dir })).code).toBe(0);
    const exported = await cli(['tasks', 'export', '/proc/drover-nope', '--list', 'L1'], { env, cwd: dir });
    expect(exported.code).toBe(2);
    expect(exported.stderr).toMatch(/\/proc\/drover-nope: cannot make the export folder/);
    const synced = await cli(['tasks', 'sync', '--claude-dir', '/etc/passwd', '--list', 'L1'], { env, cwd: dir });
    expect(synced.code).toBe(2);
    expect(synced.stderr).toMatch(/is not a folder/);
  });

  it('a port out of range exits 2 with the system message, not as an internal error', async () => {
    const dir = tempDir();
    const scenario = write(dir, 's.yaml', 'rules:\n  - turns: [{ text: ok }]\n');
    const r = await cli(['gateway', '--mode', 'sim', '--scenario', scenario, '--port', '99999'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/port/);
    expect(r.stderr).not.toMatch(/internal error/);
  });

  it('import() in a script is refused at load: exit 2, no run', async () => {
    const dir = tempDir();
    const env = { DROVER_STORE: join(dir, 'd.db') };
    const r = await cli(['run', ccScript(dir, "const fs = await import('node:fs');\nreturn 1;"), '--json'], { env, cwd: dir });
    expect(r.code).toBe(2);
    expect(lastJson(r.stdout)).toMatchObject({ error: { code: 'SCRIPT_IMPORT', line: 2 } });
  });
});
