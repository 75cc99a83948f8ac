// Orchestration overhead: a 1,000-agent pipeline at concurrency 16 through drover (traced, and with
// tracing off), versus the
// same 1,000 requests made directly with the Anthropic SDK at concurrency 16 (agents without tools,
// so both sides send the same request), against one
// instant sim gateway, measured alternately in one process run.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { createStore, runWorkflow } from '../dist/index.js';
import { median, startGatewayProcess, tempDir } from './lib.mjs';

const AGENTS = 1000;
const CONCURRENCY = 16;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

export async function benchOrchestration() {
  const dir = tempDir();
  const gw = await startGatewayProcess(dir);
  const script = join(dir, 'pipeline.js');
  writeFileSync(
    script,
    `export const meta = { name: 'bench-pipeline', description: '${AGENTS} agents' };
return (await pipeline(Array.from({ length: ${AGENTS} }, (_, i) => i), (i) => agent('task ' + i, { tools: [] }))).length;\n`,
  );
  async function direct() {
    // A fresh client per round, as each drover run creates its own: both start with cold connections.
    const client = new Anthropic({ baseURL: gw.url, apiKey: 'bench', maxRetries: 0 });
    let next = 0;
    const worker = async () => {
      while (next < AGENTS) {
        const i = next++;
        await client.messages
          .stream({
            model: 'claude-sonnet-5',
            max_tokens: 4096,
            system: [{ type: 'text', text: 'bench' }],
            messages: [{ role: 'user', content: `task ${i}` }],
          })
          .finalMessage();
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    return performance.now() - t0;
  }
  const cpuTraced = [];
  const cpuUntraced = [];
  async function viaDrover(round, tracing = true) {
    const store = createStore(join(dir, `drover-${round}-${tracing ? 'traced' : 'untraced'}.db`));
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const summary = await runWorkflow({ store, script, gateway: gw.url, concurrency: CONCURRENCY, workdir: dir, tracing });
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    (tracing ? cpuTraced : cpuUntraced).push((cpu.user + cpu.system) / 1000);
    await store.close();
    if (summary.status !== 'completed' || summary.result !== AGENTS) throw new Error(`drover run ended ${summary.status}`);
    return ms;
  }
  await direct(); // warm up both paths (JIT, sockets)
  await viaDrover('warm');
  const directTimes = [];
  const droverTimes = [];
  const untracedTimes = [];
  for (let r = 0; r < ROUNDS; r++) {
    directTimes.push(await direct());
    // Alternate which of the two goes first, so neither always follows the direct run.
    if (r % 2 === 0) {
      droverTimes.push(await viaDrover(r));
      untracedTimes.push(await viaDrover(r, false));
    } else {
      untracedTimes.push(await viaDrover(r, false));
      droverTimes.push(await viaDrover(r));
    }
  }
  await gw.reset();
  await viaDrover('count');
  const requests = (await gw.stats()).requests;
  gw.stop();
  const d = median(directTimes);
  const o = median(droverTimes);
  const u = median(untracedTimes);
  // Traced and untraced runs of one round ran back to back: their ratio cancels the machine's drift.
  const pairwise = median(droverTimes.map((t, i) => t / (untracedTimes[i] ?? t)));
  return {
    name: `orchestration overhead (${AGENTS}-agent pipeline, concurrency ${CONCURRENCY}, median of ${ROUNDS})`,
    directMs: Math.round(d),
    droverMs: Math.round(o),
    ratio: Number((o / d).toFixed(3)),
    target: '≤ 1.25',
    pass: o / d <= 1.25 && pairwise - 1 <= 0.1,
    requestsPerDroverRun: requests,
    tracing: {
      untracedMs: Math.round(u),
      overhead: Number((pairwise - 1).toFixed(3)),
      overheadOfMedians: Number((o / u - 1).toFixed(3)),
      // CPU time of the drover process: less exposed to the machine's scheduling noise than wall time.
      cpuOverhead: Number((median(cpuTraced.slice(1)) / median(cpuUntraced.slice(1)) - 1).toFixed(3)),
      target: '≤ 0.10 (tracing on vs off; median of the per-round ratios)',
      pass: pairwise - 1 <= 0.1,
    },
    rounds: { directMs: directTimes.map(Math.round), droverMs: droverTimes.map(Math.round), untracedMs: untracedTimes.map(Math.round) },
  };
}
