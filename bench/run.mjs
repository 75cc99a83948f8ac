// npm run bench — every figure the issues ask for, measured side by side in one run.
// BENCH_ONLY=orchestration,resume,journal,tasks,agents,otlp,assert,startup,ratelimit,ledger,ui,gateway,caps,listing,stop,sandbox,policy,redact,spanspg,workers,crash,fuzz picks some; results also go to bench/results/latest.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { benchAgents } from './agents.mjs';
import { benchAssert } from './assert.mjs';
import { benchCaps } from './caps.mjs';
import { benchCrash } from './crash.mjs';
import { benchFuzz } from './fuzz.mjs';
import { benchGateway } from './gateway.mjs';
import { benchJournal } from './journal.mjs';
import { benchLedger } from './ledger.mjs';
import { ROOT } from './lib.mjs';
import { benchListing } from './listing.mjs';
import { benchOrchestration } from './orchestration.mjs';
import { benchOtlp } from './otlp.mjs';
import { benchPolicy } from './policy.mjs';
import { benchRateLimit } from './rate-limit.mjs';
import { benchRedact } from './redact.mjs';
import { benchResume } from './resume.mjs';
import { benchSandbox } from './sandbox.mjs';
import { benchSpansPg } from './spans-pg.mjs';
import { benchStartup } from './startup.mjs';
import { benchStop } from './stop.mjs';
import { benchTasks } from './tasks.mjs';
import { benchUi } from './ui.mjs';
import { benchWorkers } from './workers.mjs';

const all = {
  orchestration: benchOrchestration,
  resume: benchResume,
  journal: benchJournal,
  tasks: benchTasks,
  agents: benchAgents,
  otlp: benchOtlp,
  assert: benchAssert,
  startup: benchStartup,
  ratelimit: benchRateLimit,
  ledger: benchLedger,
  ui: benchUi,
  crash: benchCrash,
  fuzz: benchFuzz,
  gateway: benchGateway,
  caps: benchCaps,
  listing: benchListing,
  stop: benchStop,
  sandbox: benchSandbox,
  policy: benchPolicy,
  redact: benchRedact,
  workers: benchWorkers,
  spanspg: benchSpansPg,
};
// The stress benches run for minutes each: only when named.
const OPT_IN = new Set(['crash', 'fuzz']);
const only = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',') : Object.keys(all).filter((k) => !OPT_IN.has(k));
const results = {
  machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
  at: new Date().toISOString(),
  benches: {},
};
for (const name of only) {
  const fn = all[name];
  if (!fn) throw new Error(`unknown bench ${name} (have: ${Object.keys(all).join(', ')})`);
  process.stderr.write(`running ${name}…\n`);
  results.benches[name] = await fn();
  console.log(JSON.stringify(results.benches[name], null, 2));
}
mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
writeFileSync(join(ROOT, 'bench', 'results', 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
const failed = Object.entries(results.benches).filter(([, r]) => r.pass === false);
if (failed.length) {
  console.error(`targets missed: ${failed.map(([n]) => n).join(', ')}`);
  process.exitCode = 1;
}
