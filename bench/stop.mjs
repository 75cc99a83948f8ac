// Run control (issue 13): from a stop request stored by another process (what `drover stop` does) to
// the driving `drover run` process having ended the run `stopped` (its finishedAt). Target: within 1 s.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseScenario, startSimGateway } from '../dist/gateway/index.js';
import { createStore } from '../dist/index.js';
import { CLI, median, percentile, tempDir } from './lib.mjs';

const ROUNDS = 9;

export async function benchStop() {
  const gw = await startSimGateway({
    scenario: parseScenario("rules:\n  - match: { prompt: 'held' }\n    hold: h\n    turns: [{ text: ok }]\n", 'stop.yaml'),
  });
  const ms = [];
  try {
    for (let i = 0; i < ROUNDS; i++) {
      const dir = tempDir();
      const script = join(dir, 'wf.js');
      writeFileSync(script, "export const meta = { name: 'stop-bench', description: 'one held agent' };\nreturn agent('held job');\n");
      const env = { ...process.env, DROVER_STORE: join(dir, 'drover.db'), CI: '1' };
      const child = spawn(process.execPath, [CLI, 'run', script, '--gateway', gw.url, '--run-id', 'r', '--json'], {
        env,
        cwd: dir,
        stdio: 'ignore',
      });
      const exited = new Promise((r) => child.once('exit', r));
      await gw.gates.arrived('h', i + 1);
      const store = createStore(join(dir, 'drover.db'));
      const t0 = Date.now();
      await store.control.requestStop({ runId: 'r', now: t0, isHolderGone: () => false });
      await exited;
      const run = await store.getRun('r');
      if (run?.status !== 'stopped') throw new Error(`run ended ${run?.status}, not stopped`);
      ms.push(run.finishedAt - t0);
      await store.close();
    }
  } finally {
    await gw.close();
  }
  const sorted = [...ms].sort((a, b) => a - b);
  const p95 = percentile(sorted, 95);
  return {
    rounds: ROUNDS,
    stopToStoppedMs: { median: median(ms), p95, max: sorted[sorted.length - 1] },
    targetMs: 1000,
    pass: p95 <= 1000,
  };
}
