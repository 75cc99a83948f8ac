/**
 * `drover ui` end to end in a real headless Chromium (Debian's `chromium`, driven by
 * playwright-core): the built CLI serves the page from its own process while runs are driven by
 * other `drover` processes against an in-test sim gateway whose gates the tests open. Nothing
 * waits on time: the page is awaited for what it shows (Playwright re-checks the DOM until it
 * matches), processes for their exit, the gateway for requests arriving at a gate.
 * Skipped, saying so, only when no Chromium is installed (CI installs it: .ci/run).
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/output.js';
import { traceIdForRun } from '../src/telemetry/traceparent.js';
import { bareRun, ccScript, cli, gateway, lastJson, onCleanup, spawnCli, tempDir, tempStore, write } from './helpers.js';

const CHROMIUM = process.env.DROVER_CHROMIUM ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  process.stderr.write(`ui-browser tests skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set DROVER_CHROMIUM)\n`);
}

const SCENARIO = `
rules:
  - name: held
    match: { prompt: '^held (.*)' }
    hold: 'held'
    usage: { input_tokens: 120, output_tokens: 12 }
    turns: [{ text: 'finished {{1}}' }]
  - name: reader
    match: { prompt: '^inspect file (\\S+)' }
    turns:
      - tool_use: { name: read_file, input: { path: '{{1}}' } }
      - text: 'the file says <i>hi</i>'
  - name: echo
    match: { prompt: '^(.*)$' }
    usage: { input_tokens: 100, output_tokens: 10 }
    turns: [{ text: 'echo {{1}}' }]
`;

const FANOUT = `
phase('Scan');
return parallel(['a', 'b', 'c'].map((x) => () => agent('look at ' + x, { label: 'look-' + x })));
`;

/** Actions and assertions on the page wait at most this long for what they expect. */
const PAGE_TIMEOUT = 20_000;

let browser: Browser;

beforeAll(async () => {
  if (!haveChromium) return;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
}, 30_000);

/** Span `i` of a run's trace: 50 µs long, starting `i` × 100 µs after `t0` (µs). */
function spanOf(runId: string, t0: number, i: number, parentSpanId: string | null, name: string) {
  return {
    traceId: traceIdForRun(runId),
    spanId: i.toString(16).padStart(16, '0'),
    parentSpanId,
    name,
    kind: 1,
    startUs: t0 + i * 100,
    endUs: t0 + i * 100 + 50,
    statusCode: 0,
    statusMessage: null,
    service: 'drover',
    scope: null,
    attributes: {},
    resource: {},
    events: [],
    runId,
  };
}

async function setup() {
  const dir = tempDir();
  const gw = await gateway(SCENARIO);
  const { store, path } = tempStore(dir);
  const env = { DROVER_STORE: path };
  const ui = spawnCli(['ui', '--port', '0', '--json'], { cwd: dir, env });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    ui.stdout?.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0] as string).url);
    });
    ui.done.then((r) => reject(new Error(`drover ui exited (${r.code}): ${r.stderr}`)));
  });
  const context = await browser.newContext();
  onCleanup(() => context.close());
  const open = async (hash = '', withToken = true): Promise<Page> => {
    const page = await context.newPage();
    page.setDefaultTimeout(PAGE_TIMEOUT);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    onCleanup(() => expect(errors, 'errors in the page').toEqual([]));
    await page.goto(withToken ? url : url.replace(/\?token=.*$/, ''));
    if (hash) await page.evaluate(`location.hash = ${JSON.stringify(hash)}`);
    return page;
  };
  return { dir, gw, store, path, env, url, open, context };
}

describe.skipIf(!haveChromium)('drover ui in Chromium', { timeout: 120_000 }, () => {
  it('shows a run started by another process live, updates it when it finishes, and drills into an agent with its requests', async () => {
    const { dir, gw, env, open } = await setup();
    const page = await open();
    await page.locator('[data-testid=live]', { hasText: 'live' }).waitFor();
    const script = ccScript(dir, `phase('Work'); return agent('held job', { label: 'worker' });`, 'live.js', 'live-flow');
    const child = spawnCli(['run', script, '--gateway', gw.url, '--run-id', 'live-1', '--json'], { cwd: dir, env });
    await gw.gates.arrived('held');
    // No reload: the row arrives over the live stream.
    const row = page.locator('tr[data-run="live-1"]');
    await row.and(page.locator('[data-status="running"]')).waitFor();
    expect(await row.locator('td').nth(2).innerText()).toBe('live-flow');
    gw.gates.open('held');
    const done = await child.done;
    expect(done.code, done.stderr).toBe(0);
    await row.and(page.locator('[data-status="completed"]')).waitFor();
    expect(await row.innerText()).toMatch(/1\/1/);

    await row.locator('a').click();
    await page.locator('[data-testid=call-tree] tr[data-label="worker"][data-state="done"]').waitFor();
    await page.locator('[data-testid=call-tree] tr[data-label="worker"] a').click();
    const drill = page.locator('[data-testid=drill]');
    await drill.locator('[data-testid=prompt]', { hasText: 'held job' }).waitFor();
    expect(await drill.locator('[data-testid=result]').innerText()).toBe('finished job');
    const requests = drill.locator('[data-testid=requests] tbody tr');
    expect(await requests.count()).toBe(1);
    expect(await requests.first().innerText()).toMatch(/claude-sonnet-5\s+200\s+120\s+0\s+0\s+12/);
  });

  it('answers a question from the inbox (refused without the token), stores it, and drover resume completes the run', async () => {
    const { dir, gw, store, env, open } = await setup();
    const question = 'Ship <img src=x onerror="window.pwned=1"> now?';
    const script = ccScript(
      dir,
      `const go = await ask(${JSON.stringify(question)}, { choices: ['yes', 'no'] }); return agent('say ' + go);`,
    );
    const first = await cli(['run', script, '--gateway', gw.url, '--run-id', 'asks', '--json'], { cwd: dir, env });
    expect(first.code, first.stderr).toBe(EXIT.waiting);
    const [q] = await store.listQuestions('asks');
    if (!q) throw new Error('no question stored');

    // Without the token (a page opened without the printed URL), the answer is refused and nothing is stored.
    const anonymous = await open('#/inbox', false);
    const item = anonymous.locator(`li[data-question="${q.id}"]`);
    await item.waitFor();
    await item.locator('button[type=submit]').click();
    await item.locator('.error', { hasText: 'token' }).waitFor();
    expect((await store.getQuestion('asks', q.id))?.status).toBe('pending');

    const page = await open('#/inbox');
    const mine = page.locator(`li[data-question="${q.id}"]`);
    // Shown as text, never as HTML.
    expect(await mine.locator('.qtext').innerText()).toBe(question);
    expect(await page.locator('[data-testid=inbox] img').count()).toBe(0);
    expect(await page.evaluate('window.pwned')).toBeUndefined();
    await mine.locator('select').selectOption('yes');
    await mine.locator('button[type=submit]').click();
    await mine.locator('.ok', { hasText: 'drover resume asks' }).waitFor();
    expect(await store.getQuestion('asks', q.id)).toMatchObject({ status: 'answered', answer: 'yes' });

    const resumed = await cli(['resume', 'asks', '--json'], { cwd: dir, env });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(lastJson(resumed.stdout)).toMatchObject({ status: 'completed', result: 'echo say yes' });
    // The inbox empties live once the question is answered.
    await page.locator('[data-testid=inbox] li').waitFor({ state: 'detached' });
  });

  it('collapses the trace waterfall to a depth, hides short spans, and filters it', async () => {
    const { dir, env, open } = await setup();
    const scenario = write(dir, 'sim.yaml', SCENARIO);
    const run = await cli(['run', ccScript(dir, FANOUT), '--sim', scenario, '--run-id', 'traced', '--json'], { cwd: dir, env });
    expect(run.code, run.stderr).toBe(0);
    const page = await open('#/run/traced/trace');
    const rows = page.locator('[data-testid=waterfall] .wf-row');
    await page.locator('.wf-row[data-name="invoke_agent look-b"]').waitFor();
    const all = await rows.count();
    const deep = await page.locator('.wf-row[data-depth="3"]').count();
    expect(deep).toBe(3); // one chat span per agent
    expect(await page.locator('[data-testid=wf-count]').innerText()).toBe(`${all} of ${all} spans shown`);

    await page.locator('[data-testid=wf-depth]').selectOption('2');
    await page.locator('[data-testid=wf-count]', { hasText: `${all - deep} of ${all} spans shown` }).waitFor();
    expect(await page.locator('.wf-row[data-depth="3"]').count()).toBe(0);
    expect(await page.locator('.wf-row[data-name="invoke_agent look-a"] .folded').innerText()).toBe('+1');

    await page.locator('[data-testid=wf-depth]').selectOption('');
    await page.locator('[data-testid=wf-filter]').fill('look-b');
    await page.locator('[data-testid=wf-count]', { hasText: /^3 of/ }).waitFor();
    const names = await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-name')));
    expect(names).toEqual(['invoke_workflow test-workflow', 'phase Scan', 'invoke_agent look-b']);

    await page.locator('[data-testid=wf-filter]').fill('');
    await page.locator('[data-testid=wf-min]').fill('100000');
    await page.locator('[data-testid=wf-count]', { hasText: `1 of ${all} spans shown` }).waitFor();
    expect(await page.locator('.wf-row .folded').innerText()).toBe(`+${all - 1}`);
  });

  it("opens a run's trace with one read of its header and one of its spans, and reads them again once after a write", async () => {
    const { dir, env, store, url, open } = await setup();
    const scenario = write(dir, 'sim.yaml', SCENARIO);
    const run = await cli(['run', ccScript(dir, FANOUT), '--sim', scenario, '--run-id', 'once', '--json'], { cwd: dir, env });
    expect(run.code, run.stderr).toBe(0);
    const page = await open(); // trades the token for the cookie
    await page.goto('about:blank');
    const asked: string[] = [];
    page.on('request', (r) => {
      const path = new URL(r.url()).pathname;
      if (path.startsWith('/api/runs/once')) asked.push(path);
    });
    // A fresh load of the run's trace tab: boot.mjs asks for both while the app's modules load.
    await page.goto(new URL('/#/run/once/trace', url).href);
    await page.locator('[data-testid=live]', { hasText: 'live' }).waitFor();
    const count = page.locator('[data-testid=wf-count]');
    await count.filter({ hasText: / of \d+ spans shown/ }).waitFor();
    const spans = Number((await count.innerText()).split(' of ')[0]);
    // Another connection adds a span: the live stream's event (after its first one) reloads the trace once.
    const now = Date.now() * 1000;
    // Span 0xf1, starting now.
    await store.spans.insertSpans([spanOf('once', now - 0xf1 * 100, 0xf1, null, 'late span')]);
    await count.filter({ hasText: `${spans + 1} of ${spans + 1} spans shown` }).waitFor();
    await page.locator('.wf-row[data-name="late span"]').waitFor();
    expect(asked.filter((p) => p === '/api/runs/once/spans')).toHaveLength(2);
    expect(asked.filter((p) => p === '/api/runs/once')).toHaveLength(2);
  });

  it('keeps only the rows in view in the page for a 3,000-span trace, loading pages as it scrolls', async () => {
    const { store, open } = await setup();
    const now = Date.now();
    await store.createRun(
      {
        id: 'big',
        name: 'big-trace',
        description: '',
        scriptPath: 'big.js',
        scriptSource: '',
        scriptHash: 'h',
        scriptForm: 'claude-code',
        args: null,
        settings: { backend: 'builtin', model: 'm', concurrency: 1, maxAgents: 1000 },
        fromRunId: null,
      },
      now,
    );
    const t0 = now * 1000;
    const span = (i: number, parent: string | null, name: string) => spanOf('big', t0, i, parent, name);
    const root = { ...span(1, null, 'invoke_workflow big'), endUs: t0 + 400_000 };
    const children = Array.from({ length: 2999 }, (_, k) => span(k + 2, root.spanId, k === 2998 ? 'the last span' : `step ${k}`));
    await store.spans.insertSpans([root, ...children]);
    const page = await open('#/run/big/trace');
    await page.locator('[data-testid=wf-count]', { hasText: '3000 of 3000 spans shown' }).waitFor();
    await page.locator('.wf-row[data-name="step 0"]').waitFor();
    const inDom = await page.locator('.wf-row').count();
    expect(inDom).toBeGreaterThan(10);
    expect(inDom).toBeLessThan(100);
    await page.locator('[data-testid=waterfall]').evaluate((el) => {
      el.scrollTop = el.scrollHeight;
    });
    await page.locator('.wf-row[data-name="the last span"]').waitFor();
    expect(await page.locator('.wf-row[data-name="step 0"]').count()).toBe(0);
  });

  it('asks again for a page of spans whose request failed, and shows it', async () => {
    const { store, open, context } = await setup();
    await bareRun(store, 'flaky', tempDir());
    const t0 = Date.now() * 1000;
    await store.spans.insertSpans(
      [1, 2, 3].map((i) =>
        spanOf('flaky', t0, i, i === 1 ? null : '0000000000000001', i === 1 ? 'invoke_workflow flaky' : `step ${i - 1}`),
      ),
    );
    // The first request for the run's spans fails as a dropped connection would; later ones go through.
    let failed = 0;
    await context.route('**/api/runs/flaky/spans*', (route) => (failed++ === 0 ? route.abort('connectionreset') : route.continue()));
    const page = await open('#/run/flaky/trace');
    await page.locator('[data-testid=wf-count]', { hasText: '3 of 3 spans shown' }).waitFor();
    expect(failed).toBeGreaterThan(1);
    await page.locator('.wf-row[data-name="step 2"]').waitFor();
  });

  it("shows an agent's transcript in the drill-down — prompt, turns, tool call input and output, answer — as text, never HTML", async () => {
    const { dir, gw, store, env, open } = await setup();
    write(dir, 'notes.txt', 'first line\n<b id="injected">bold</b>\n');
    const script = ccScript(dir, `return agent('inspect file notes.txt', { label: 'reader' });`, 'reader.js', 'reader');
    const ran = await cli(['run', script, '--gateway', gw.url, '--run-id', 'talk', '--json'], {
      cwd: dir,
      env: { ...env, DROVER_TRACE_CONTENT: '1' },
    });
    expect(ran.code, ran.stderr).toBe(0);
    const [call] = await store.listCalls('talk');
    const page = await open(`#/run/talk/agents?call=${encodeURIComponent(call?.key as string)}`);
    const t = page.locator('[data-testid=transcript]');
    await t.waitFor();
    expect(await t.locator('[data-testid=t-prompt]').innerText()).toBe('inspect file notes.txt');
    const tool = t.locator('.t-tool[data-tool="read_file"]');
    expect(await tool.locator('.t-input').innerText()).toContain('"path": "notes.txt"');
    expect(await tool.locator('.t-output').innerText()).toContain('<b id="injected">bold</b>');
    expect(await t.locator('[data-testid=t-answer]').innerText()).toBe('the file says <i>hi</i>');
    expect(await t.locator('.t-turn').count()).toBe(2);
    // Shown as text: no element came from the transcript's words.
    expect(await page.locator('#injected, .transcript i').count()).toBe(0);
  });

  it('stops a live run from its page (refused without the token), then resumes it from the page: it completes with 0 re-paid calls', async () => {
    const { dir, gw, store, env, open } = await setup();
    const script = ccScript(
      dir,
      `phase('Work'); const a = await agent('first job', { label: 'first' }); const b = await agent('held second', { label: 'second' }); return [a, b];`,
      'stoppable.js',
      'stoppable',
    );
    const child = spawnCli(['run', script, '--gateway', gw.url, '--run-id', 'stop-me', '--json'], { cwd: dir, env });
    await gw.gates.arrived('held');

    // A page opened without the token cannot stop it.
    const anonymous = await open('#/run/stop-me', false);
    await anonymous.locator('[data-testid=run-header] [data-state="running"]').waitFor();
    await anonymous.locator('button[data-action=stop]').click();
    await anonymous.locator('[data-testid=action-error]', { hasText: 'token' }).waitFor();
    expect(await store.control.stopRequestedAt('stop-me')).toBeNull();

    const page = await open('#/run/stop-me');
    const header = page.locator('[data-testid=run-header]');
    await header.locator('[data-state="running"]').waitFor();
    expect(await page.locator('button[data-action=resume]').isDisabled()).toBe(true);
    await page.locator('button[data-action=stop]').click();
    // The driving process ends the run `stopped`, and the page shows it live.
    const ran = await child.done;
    expect(ran.code, ran.stderr).toBe(EXIT.interrupted);
    expect(lastJson(ran.stdout).status).toBe('stopped');
    await header.locator('[data-state="stopped"]').waitFor();
    const firstRequests = (await store.ledger.listByRun('stop-me')).length;
    expect(firstRequests).toBe(2); // the finished agent's, and the cut-off one's

    gw.gates.open('held');
    await page.locator('button[data-action=resume]').click();
    await page.locator('[data-testid=action-note]', { hasText: 'resumed by pid' }).waitFor();
    await header.locator('[data-state="completed"]').waitFor();
    const run = await store.getRun('stop-me');
    expect(run?.result).toEqual(['echo first job', 'finished second']);
    // 0 re-paid calls: the finished agent's request was not sent again; only the cut-off agent ran.
    const calls = new Map((await store.listCalls('stop-me')).map((c) => [c.key, c.label]));
    const rows = (await store.ledger.listByRun('stop-me')).map((r) => calls.get(r.callKey ?? ''));
    expect(rows.filter((l) => l === 'first')).toHaveLength(1);
    expect(rows.filter((l) => l === 'second')).toHaveLength(2);
  });

  it('stops several live runs at once from the runs list', async () => {
    const { dir, gw, store, env, open } = await setup();
    const script = ccScript(dir, `return agent('held work');`, 'held.js', 'bulk');
    const children = ['bulk-1', 'bulk-2'].map((id) =>
      spawnCli(['run', script, '--gateway', gw.url, '--run-id', id, '--json'], { cwd: dir, env }),
    );
    await gw.gates.arrived('held', 2);
    const page = await open();
    for (const id of ['bulk-1', 'bulk-2']) {
      const row = page.locator(`tr[data-run="${id}"][data-status="running"]`);
      await row.waitFor();
      await row.locator('input[type=checkbox]').check();
    }
    await page.locator('[data-testid=bulk-stop]', { hasText: 'stop selected (2)' }).click();
    for (const child of children) expect((await child.done).code).toBe(EXIT.interrupted);
    await page.locator('tr[data-run="bulk-1"][data-status="stopped"]').waitFor();
    await page.locator('tr[data-run="bulk-2"][data-status="stopped"]').waitFor();
    expect((await store.getRun('bulk-1'))?.status).toBe('stopped');
    expect((await store.getRun('bulk-2'))?.status).toBe('stopped');
  });

  it('draws a task list as a DAG with ready work marked, and shows a task with its history', async () => {
    const { store, open } = await setup();
    const actor = { name: 'planner' };
    const now = Date.now();
    const design = await store.tasks.createTask('board', { subject: 'design the API' }, actor, now);
    const build = await store.tasks.createTask('board', { subject: 'build it', blockedBy: [design.id] }, actor, now);
    await store.tasks.createTask('board', { subject: 'ship it', blockedBy: [build.id] }, actor, now);
    await store.tasks.claimTask('board', { id: design.id, owner: 'alice', leaseMs: 600_000 }, actor, now);
    const page = await open('#/tasks?list=board');
    const dag = page.locator('[data-testid=task-dag]');
    await dag.locator('g.node').nth(2).waitFor();
    expect(await dag.locator('g.node').count()).toBe(3);
    expect(await dag.locator('polyline.edge').count()).toBe(2);
    expect(await dag.locator(`g.node[data-node="${design.id}"]`).getAttribute('data-state')).toBe('in_progress');
    expect(await dag.locator(`g.node[data-node="${build.id}"]`).getAttribute('data-state')).toBe('pending');

    // Completing the first task makes the second ready, live.
    await store.tasks.completeTask('board', design.id, { name: 'alice' }, Date.now(), 'alice');
    await dag.locator(`g.node[data-node="${build.id}"][data-state="ready"]`).waitFor();

    await dag.locator(`g.node[data-node="${design.id}"]`).click();
    const task = page.locator('[data-testid=task]');
    await task.locator('.history li', { hasText: 'completed' }).waitFor();
    expect(await task.locator('.history').innerText()).toMatch(/created by planner[\s\S]*claimed[\s\S]*completed by alice/);
  });
});
