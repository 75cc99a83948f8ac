// The dashboard's screenshots in docs/screenshots/: builds a demo store from real runs (the built
// CLI, `drover run --sim` against a scenario, so every model request is metered and traced), a task
// list, then starts `drover ui` and captures each page in headless Chromium (Debian's
// /usr/bin/chromium, or DROVER_CHROMIUM) at 1280×800. Run `npm run build` first; `npm run screenshots`.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const OUT = join(ROOT, 'docs', 'screenshots');
const CHROMIUM = process.env.DROVER_CHROMIUM ?? '/usr/bin/chromium';
if (!existsSync(CLI)) throw new Error(`no ${CLI}: run npm run build first`);
if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (apt-get install chromium, or set DROVER_CHROMIUM)`);

const SCENARIO = `
rules:
  - name: reader
    match: { prompt: '^review (\\S+)' }
    usage: { input_tokens: 1800, output_tokens: 240, cache_read_input_tokens: 900 }
    turns:
      - tool_use: { name: read_file, input: { path: '{{1}}' } }
      - text: 'Reviewed {{1}}: the retry loop never gives up on a 4xx; cap it and surface the error.'
  - name: scan
    match: { prompt: '^scan (.*)' }
    usage: { input_tokens: 1200, output_tokens: 160 }
    turns: [{ text: 'scanned {{1}}: 2 findings' }]
  - name: echo
    match: { prompt: '^(.*)$' }
    usage: { input_tokens: 600, output_tokens: 90 }
    turns: [{ text: 'done: {{1}}' }]
`;

const REVIEW = `export const meta = { name: 'review-pr', description: 'scan a change, review its files, write a summary' };
phase('Scan');
const areas = ['api', 'storage', 'cli', 'docs'];
const scans = await parallel(areas.map((a) => () => agent('scan ' + a + ' for risky changes', { label: 'scan-' + a })));
phase('Review');
const notes = await pipeline(['src/retry.js', 'src/store.js'], (file) => agent('review ' + file, { label: 'review ' + file }));
phase('Report');
return agent('summarise ' + scans.length + ' scans and ' + notes.length + ' reviews', { label: 'summary' });
`;

const TRIAGE = `export const meta = { name: 'triage', description: 'sort new issues, ask before closing' };
phase('Sort');
await parallel(['#101', '#102', '#103'].map((i) => () => agent('label issue ' + i, { label: 'label ' + i })));
phase('Confirm');
const close = await ask('Close #102 as a duplicate of #87?', { choices: ['yes', 'no'] });
return agent('close #102: ' + close);
`;

const NIGHTLY = `export const meta = { name: 'nightly-docs', description: 'refresh the docs index' };
phase('Index');
return parallel(['guide', 'api', 'faq'].map((p) => () => agent('index ' + p, { label: 'index-' + p })));
`;

function cli(args, env) {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('error', rej);
    child.on('exit', (code) => res({ code, out, err }));
  });
}

const dir = mkdtempSync(join(tmpdir(), 'drover-screens-'));
const store = join(dir, 'drover.db');
const env = { DROVER_STORE: store, DROVER_TRACE_CONTENT: '1' };
const file = (name, text) => {
  mkdirSync(dirname(join(dir, name)), { recursive: true });
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};
file('sim.yaml', SCENARIO);
file('src/retry.js', 'export async function retry(fn) {\n  for (;;) {\n    try { return await fn(); } catch { /* again */ }\n  }\n}\n');
file('src/store.js', 'export const store = new Map();\n');
const runs = [
  ['nightly.js', NIGHTLY, 'nightly-0412', 0],
  // 4: the run waits for a human (its question is in the inbox)
  ['triage.js', TRIAGE, 'triage-0413', 4],
  ['review.js', REVIEW, 'review-0414', 0],
];
for (const [name, body, id, exit] of runs) {
  const r = await cli(['run', file(name, body), '--sim', join(dir, 'sim.yaml'), '--run-id', id, '--max-usd', '2', '--json'], env);
  if (r.code !== exit) throw new Error(`drover run ${name} exited ${r.code} (wanted ${exit}): ${r.err}`);
}

// A task list for the board: a small DAG, one task claimed, one done.
const { createStore } = await import(join(ROOT, 'dist', 'store', 'index.js'));
const db = createStore(store);
const actor = { name: 'planner' };
const now = Date.now();
const t = (subject, blockedBy = []) => db.tasks.createTask('release', { subject, blockedBy }, actor, now);
const design = await t('design the retry cap');
const impl = await t('implement the cap', [design.id]);
const docs = await t('document the new error', [design.id]);
const tests = await t('test 4xx and 5xx paths', [impl.id]);
await t('release 1.4', [tests.id, docs.id]);
await db.tasks.claimTask('release', { id: design.id, owner: 'alice', leaseMs: 3_600_000 }, actor, now);
await db.tasks.completeTask('release', design.id, { name: 'alice' }, now, 'alice');
await db.tasks.claimTask('release', { id: impl.id, owner: 'bob', leaseMs: 3_600_000 }, actor, now);
const calls = await db.listCalls('review-0414');
const reviewer = calls.find((c) => c.label === 'review src/retry.js');
await db.close();
if (!reviewer) throw new Error('no review call in the demo run');

const ui = spawn(process.execPath, [CLI, 'ui', '--port', '0', '--json'], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise((res, rej) => {
  let buf = '';
  ui.stdout.on('data', (d) => {
    buf += d;
    if (buf.includes('\n')) res(JSON.parse(buf.split('\n')[0]).url);
  });
  ui.on('exit', (code) => rej(new Error(`drover ui exited ${code}`)));
});

const { chromium } = await import('playwright-core');
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
const shots = [
  ['runs', '#/runs', 'tr[data-run="review-0414"]'],
  ['run-agents', '#/run/review-0414/agents', '[data-testid=call-tree] tr[data-label="summary"]'],
  ['call-graph', '#/run/review-0414/graph', 'svg g.node'],
  ['trace', '#/run/review-0414/trace', '.wf-row[data-name="invoke_agent summary"]'],
  ['cost', '#/run/review-0414/cost', '[data-testid=cost] svg'],
  ['agent-transcript', `#/run/review-0414/agents?call=${encodeURIComponent(reviewer.key)}`, '[data-testid=transcript] [data-testid=t-answer]'],
  ['inbox', '#/inbox', '[data-testid=inbox] li'],
  ['task-board', '#/tasks?list=release', 'g.node'],
];
try {
  mkdirSync(OUT, { recursive: true });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(url);
  await page.locator('[data-testid=live]', { hasText: 'live' }).waitFor();
  for (const [name, hash, ready] of shots) {
    await page.evaluate((h) => {
      location.hash = h;
    }, hash);
    await page.locator(ready).first().waitFor({ timeout: 20_000 });
    await page.screenshot({ path: join(OUT, `${name}.png`) });
    process.stdout.write(`docs/screenshots/${name}.png\n`);
  }
} finally {
  await browser.close();
  ui.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
