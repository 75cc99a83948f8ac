// CLI start-up: wall and CPU time of whole `drover` processes, side by side with a bare `node -e 0`
// in the same rounds (interleaved, so a busy machine slows every case alike), each the median of
// BENCH_STARTUP_ROUNDS runs and as a ratio to `node -e 0`. Cases: --version, tasks claim on a list
// with ready tasks, tasks list --json on a 1,000-task list, and a 4-agent run against an instant
// in-process sim (--sim, no latency), with how long the run's process lived after printing its result.
// CPU is user+system of the child as the shell's `times` reports it (10 ms ticks on some kernels).
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createStore } from '../dist/index.js';
import { TaskBoard } from '../dist/tasks/board.js';
import { CLI, INSTANT_SCENARIO, median, tempDir } from './lib.mjs';

const ROUNDS = Number(process.env.BENCH_STARTUP_ROUNDS ?? 15);
const LIST_TASKS = 1000;
const GOAL = 3;

/** `times` prints the shell's own and its children's user/system time: "0m0.084000s 0m0.012000s". */
function childCpuMs(stderr) {
  const lines = stderr.trim().split('\n');
  const m = /(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/.exec(lines[lines.length - 1] ?? '');
  return m ? (Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4])) * 1000 : Number.NaN;
}

/** One process through `sh -c '"$@"; times >&2'`: wall ms, the child's CPU ms, and ms from its last stdout line to exit. */
function measure(args, cwd, env) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let lastLineAt = t0;
    let stderr = '';
    let stdout = '';
    const child = spawn('/bin/sh', ['-c', 'code=0; "$@" 2>/dev/null || code=$?; times >&2; exit $code', 'sh', process.execPath, ...args], {
      cwd,
      env: { ...process.env, CI: '1', NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d) => {
      stdout += d;
      lastLineAt = performance.now();
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const end = performance.now();
      if (code !== 0) reject(new Error(`${args.join(' ')} exited ${code}: ${stdout.slice(-300)}`));
      else resolve({ wallMs: end - t0, cpuMs: childCpuMs(stderr), afterOutputMs: end - lastLineAt });
    });
  });
}

export async function benchStartup() {
  const dir = tempDir();
  const storePath = join(dir, 'drover.db');
  const store = createStore(storePath);
  const claimBoard = new TaskBoard(store, 'claims', { name: 'bench' });
  // Enough ready tasks for every round (and the warm-up) to claim one.
  for (let i = 0; i < ROUNDS + 5; i++) await claimBoard.create({ subject: `ready ${i}` });
  const bigBoard = new TaskBoard(store, 'big', { name: 'bench' });
  for (let i = 0; i < LIST_TASKS; i++) {
    await bigBoard.create({ subject: `task ${i}`, ...(i > 0 && i % 3 === 0 ? { blockedBy: [String(i)] } : {}) });
  }
  await store.close();
  const scenario = join(dir, 'scenario.yaml');
  writeFileSync(scenario, INSTANT_SCENARIO);
  const script = join(dir, 'four.js');
  writeFileSync(
    script,
    `export const meta = { name: 'four', description: 'four agents' };
return await parallel([0, 1, 2, 3].map((i) => () => agent('task ' + i, { tools: [] })));\n`,
  );
  const env = { DROVER_STORE: storePath };
  const cases = {
    'node -e 0': { args: ['-e', '0'] },
    'drover --version': { args: [CLI, '--version'] },
    'drover tasks claim': { args: [CLI, 'tasks', '--list', 'claims', 'claim', '--json'] },
    [`drover tasks list --json (${LIST_TASKS} tasks)`]: { args: [CLI, 'tasks', '--list', 'big', 'list', '--json'] },
    'drover run (4 agents, instant sim)': {
      args: [CLI, 'run', script, '--sim', scenario, '--json'],
      env: { DROVER_STORE: join(dir, 'runs.db') },
    },
  };
  const samples = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  for (const c of Object.values(cases)) await measure(c.args, dir, { ...env, ...c.env }); // warm-up: disk cache, store creation
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, c] of Object.entries(cases)) samples[name].push(await measure(c.args, dir, { ...env, ...c.env }));
  }
  const base = {
    wallMs: median(samples['node -e 0'].map((s) => s.wallMs)),
    cpuMs: median(samples['node -e 0'].map((s) => s.cpuMs)),
  };
  const round = (x) => Math.round(x * 10) / 10;
  const rows = Object.fromEntries(
    Object.entries(samples).map(([name, s]) => {
      const wallMs = median(s.map((x) => x.wallMs));
      const cpuMs = median(s.map((x) => x.cpuMs));
      return [
        name,
        {
          wallMs: round(wallMs),
          wallRatio: round(wallMs / base.wallMs),
          cpuMs: round(cpuMs),
          cpuRatio: round(cpuMs / base.cpuMs),
          ...(name.startsWith('drover run') ? { exitAfterResultMs: round(median(s.map((x) => x.afterOutputMs))) } : {}),
        },
      ];
    }),
  );
  const version = rows['drover --version'];
  const claim = rows['drover tasks claim'];
  return {
    name: 'CLI start-up: whole processes, median of each, as a ratio to node -e 0',
    rounds: ROUNDS,
    cases: rows,
    target: `drover --version and drover tasks claim ≤ ${GOAL}× node -e 0 (wall)`,
    pass: version.wallRatio <= GOAL && claim.wallRatio <= GOAL,
  };
}
