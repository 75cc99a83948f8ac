// OS sandbox start-up cost per `sh` step: wall ms of one `sh('true')` process (drover's runShell, the
// function sh steps call) without bubblewrap, with it (network 'none') and with it sharing the host's
// network, interleaved in the same rounds so a busy machine slows all alike; median and p90 of BENCH_SANDBOX_ROUNDS each, and the difference. The first
// sandboxed step also pays the one-time probe (bwrap --version and a trial sandbox), reported apart.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { sandboxStatus } from '../dist/sandbox/index.js';
import { runShell } from '../dist/workflow/shell.js';
import { median, tempDir } from './lib.mjs';

const ROUNDS = Number(process.env.BENCH_SANDBOX_ROUNDS ?? 40);

const p90 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.9))];
const round = (n) => Math.round(n * 100) / 100;

export async function benchSandbox() {
  const dir = tempDir();
  const ws = join(dir, 'ws');
  mkdirSync(ws);
  const spec = { enabled: true, writablePaths: [ws], network: 'none' };
  const hostNet = { ...spec, network: 'host' };
  try {
    const t0 = performance.now();
    const status = await sandboxStatus();
    const probeMs = performance.now() - t0;
    if (!status.available) return { pass: false, error: `sandbox unavailable: ${status.reason}` };
    const plain = [];
    const boxed = [];
    const boxedHost = [];
    const once = async (sandbox, into) => {
      const t = performance.now();
      const r = await runShell('true', { cwd: ws, ...(sandbox ? { sandbox } : {}) });
      into.push(performance.now() - t);
      if (r.exitCode !== 0) throw new Error(`sh exited ${r.exitCode}: ${r.stderr}`);
    };
    // Warm-up of every path (module loading, the page cache of bwrap and sh).
    await once(undefined, []);
    await once(spec, []);
    await once(hostNet, []);
    const cases = [
      [undefined, plain],
      [spec, boxed],
      [hostNet, boxedHost],
    ];
    for (let i = 0; i < ROUNDS; i++) {
      // A different order each round: none of the three always runs first.
      for (let j = 0; j < cases.length; j++) {
        const [sandbox, into] = cases[(i + j) % cases.length];
        await once(sandbox, into);
      }
    }
    return {
      rounds: ROUNDS,
      bubblewrap: status.version,
      probeOnceMs: round(probeMs),
      shStepMs: {
        withoutSandbox: { median: round(median(plain)), p90: round(p90(plain)) },
        withSandbox: { median: round(median(boxed)), p90: round(p90(boxed)) },
        withSandboxHostNetwork: { median: round(median(boxedHost)), p90: round(p90(boxedHost)) },
      },
      addedMedianMs: round(median(boxed) - median(plain)),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
