import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createStore } from '../src/store/index.js';
import { ccScript, cli, lastJson, onCleanup, tempDir, write } from './helpers.js';

const SCENARIO = `
rules:
  - name: any
    match: { prompt: 'task (\\w+)' }
    usage: { input_tokens: 40, output_tokens: 7 }
    turns: [{ text: 'done with {{1}}' }]
`;

/** `drover run --record <dir>` then `--replay <dir>`: the second run calls no model, needs no key, costs $0. */
describe('drover run --record / --replay', () => {
  it('records a run through its gateway, then replays it with no upstream and no key: same result, rows in replay mode', async () => {
    const dir = tempDir();
    const scenario = write(dir, 'scenario.yaml', SCENARIO);
    const script = ccScript(dir, `const r = await parallel([() => agent('task alpha'), () => agent('task beta')]);\nreturn r;`);
    const cassettes = join(dir, 'cassettes');
    const storePath = join(dir, 'store.db');
    const env = { ANTHROPIC_API_KEY: '', OPENAI_API_KEY: '' };
    const recorded = await cli(['run', script, '--sim', scenario, '--record', cassettes, '--store', storePath, '--json'], {
      cwd: dir,
      env,
    });
    expect(recorded.code, recorded.stderr).toBe(0);
    const first = lastJson(recorded.stdout);
    expect(first).toMatchObject({ status: 'completed', result: ['done with alpha', 'done with beta'] });
    expect(readdirSync(cassettes).filter((f) => f.endsWith('.json'))).toHaveLength(2);

    // The sim gateway is gone with the first process; nothing but the cassettes can answer.
    const replayed = await cli(['run', script, '--replay', cassettes, '--store', storePath, '--json'], { cwd: dir, env });
    expect(replayed.code, replayed.stderr).toBe(0);
    const second = lastJson(replayed.stdout);
    expect(second).toMatchObject({ status: 'completed', result: first.result });

    const store = createStore(storePath);
    onCleanup(() => store.close());
    const rows = await store.ledger.listByRun(second.runId as string);
    expect(rows.map((r) => [r.mode, r.status, r.inputTokens, r.outputTokens])).toEqual([
      ['replay', 200, 40, 7],
      ['replay', 200, 40, 7],
    ]);
    const firstRows = await store.ledger.listByRun(first.runId as string);
    // Recorded from the run's sim: no provider billed them, so the rows say `sim` (not `record`).
    expect(firstRows.map((r) => r.mode)).toEqual(['sim', 'sim']);
    // drover usage totals real spend: neither run is counted, both are named.
    const usage = lastJson((await cli(['usage', '--store', storePath, '--json'], { cwd: dir, env })).stdout) as {
      requests: number;
      notCounted: { requests: number };
    };
    expect(usage).toMatchObject({ requests: 0, notCounted: { requests: 4 } });
    // A cassette never holds the placeholder key the agents sent.
    for (const f of readdirSync(cassettes)) expect(readFileSync(join(cassettes, f), 'utf8')).not.toContain('drover-sim');
  });

  it('refuses --replay with --sim, and --record with --replay (exit 2, no run)', async () => {
    const dir = tempDir();
    const script = ccScript(dir, `return 1;`);
    const both = await cli(['run', script, '--record', 'a', '--replay', 'b', '--store', join(dir, 's.db')], { cwd: dir });
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--record and --replay cannot be used together');
    const missing = await cli(['run', script, '--replay', 'nope', '--store', join(dir, 's.db'), '--json'], { cwd: dir });
    expect(missing.code).toBe(2);
    expect(lastJson(missing.stdout)).toMatchObject({ error: { code: 'NO_CASSETTES' } });
    expect(existsSync(join(dir, 's.db'))).toBe(false);
    const withSim = await cli(['run', script, '--replay', 'b', '--sim', 'x.yaml', '--store', join(dir, 's.db')], { cwd: dir });
    expect(withSim.code).toBe(2);
    expect(withSim.stderr).toContain('--replay');
    // A --record folder that cannot be made is bad input, named, before any run exists.
    const scenario = write(dir, 'scenario.yaml', SCENARIO);
    const fileInWay = await cli(['run', script, '--record', scenario, '--sim', scenario, '--store', join(dir, 's.db')], { cwd: dir });
    expect(fileInWay.code).toBe(2);
    expect(fileInWay.stderr).toContain(`--record: ${scenario} is a file, not a folder`);
    expect(existsSync(join(dir, 's.db'))).toBe(false);
    if (existsSync('/proc/self')) {
      // Node's own recursive mkdir never returns here; drover names the flag and stops.
      const proc = await cli(['run', script, '--record', '/proc/drover-nope/x', '--sim', scenario, '--store', join(dir, 's.db')], {
        cwd: dir,
      });
      expect(proc.code).toBe(2);
      expect(proc.stderr).toContain('--record: cannot create /proc/drover-nope/x');
      const gw = await cli(['gateway', '--mode', 'record', '--cassettes', '/proc/drover-nope', '--store', join(dir, 'g.db')], { cwd: dir });
      expect(gw.code).toBe(2);
      expect(gw.stderr).toContain('cassette directory: cannot create /proc/drover-nope');
    }
    const noTapes = await cli(['gateway', '--mode', 'replay', '--cassettes', join(dir, 'none'), '--store', join(dir, 'g.db')], {
      cwd: dir,
    });
    expect(noTapes.code).toBe(2);
    expect(noTapes.stderr).toContain(`replay: no cassette directory at ${join(dir, 'none')}`);
  });

  it('a replay that misses names the request it could not find (the agent fails loudly)', async () => {
    const dir = tempDir();
    const scenario = write(dir, 'scenario.yaml', SCENARIO);
    const cassettes = join(dir, 'cassettes');
    const storePath = join(dir, 'store.db');
    const rec = await cli(
      ['run', ccScript(dir, `return agent('task alpha');`), '--sim', scenario, '--record', cassettes, '--store', storePath, '--json'],
      {
        cwd: dir,
      },
    );
    expect(rec.code, rec.stderr).toBe(0);
    const miss = await cli(
      ['run', ccScript(dir, `return agent('task gamma');`, 'other.js'), '--replay', cassettes, '--store', storePath, '--json'],
      {
        cwd: dir,
      },
    );
    const s = lastJson(miss.stdout);
    // A failed agent() is null in Claude Code's format; the run records the failure with the gateway's words.
    expect(s).toMatchObject({ result: null, calls: { failed: 1, executed: 0 } });
    expect(miss.stderr).toContain('replay: no recording');
    expect(miss.stderr).toMatch(/last user message .{0,2}task gamma/);
    expect(miss.stderr).toMatch(/closest recording: .*task alpha/);
  });
});
