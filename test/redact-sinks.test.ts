import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { findSecrets, redactSecrets } from '../src/redact/index.js';
// @ts-expect-error: a plain .mjs module shared with the bench (no type declarations)
import { plantedEnvSecret, plantedSecrets, probes } from './fixtures/planted-secrets.mjs';
import { CLI, ccScript, cli, lastJson, onCleanup, tempDir, write } from './helpers.js';

interface Planted {
  family: string;
  secret: string;
  text: string;
}
const PLANTED = plantedSecrets() as Planted[];
const ENV_SECRET = plantedEnvSecret() as string;
const ALL: { family: string; secret: string }[] = [...PLANTED, { family: 'env-value', secret: ENV_SECRET }];

/** Every text and blob value of every table of an SQLite store (tables found through sqlite_master). */
function storeTexts(path: string): Map<string, string[]> {
  const db = new Database(path, { readonly: true });
  try {
    const out = new Map<string, string[]>();
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
    for (const t of tables) {
      const values: string[] = [];
      for (const row of db.prepare(`SELECT * FROM "${t}"`).raw().all() as unknown[][]) {
        for (const v of row) {
          if (typeof v === 'string') values.push(v);
          else if (Buffer.isBuffer(v)) values.push(v.toString('latin1'));
        }
      }
      out.set(t, values);
    }
    return out;
  } finally {
    db.close();
  }
}

/** Every file under `dir`, as latin1 text. */
function filesUnder(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const file = join(dir, name);
    if (statSync(file).isFile()) out.set(file, readFileSync(file).toString('latin1'));
  }
  return out;
}

describe('every planted secret is rule-detected and redacted alone', () => {
  it.each(PLANTED.map((p) => [p.family, p] as const))('%s', (_family, p) => {
    expect(findSecrets(p.text).length, `no rule sees the ${p.family} secret`).toBeGreaterThan(0);
    for (const wrap of [(s: string) => s, (s: string) => JSON.stringify({ log: `line\n${s}\n` }), (s: string) => `"${s}"`]) {
      const out = redactSecrets(wrap(p.text));
      for (const probe of probes(p.secret)) expect(out.includes(probe), `${p.family} leaks ${probe} in ${out}`).toBe(false);
    }
  });
});

describe('a planted secret is absent from every sink drover writes', () => {
  it('prompts, tool output, model output, sh output, env, args, labels, logs, questions, answers, tasks, spans, cassettes, exports, MCP: recall 100%', async () => {
    const dir = tempDir();
    const storePath = join(dir, 'drover.db');
    const cassettes = join(dir, 'cassettes');
    const joined = PLANTED.map((p) => p.text).join('\n');
    write(dir, 'secrets.txt', `${joined}\n`);
    // JSON is YAML: the texts need no YAML quoting.
    const scenario = write(
      dir,
      'scenario.yaml',
      JSON.stringify({
        rules: [
          {
            match: { prompt: 'read secrets.txt' },
            turns: [{ tool_use: { name: 'bash', input: { command: 'cat secrets.txt' } } }, { text: `the file says:\n${joined}` }],
          },
          { turns: [{ text: `the model repeats:\n${joined}` }] },
        ],
      }),
    );
    const script = ccScript(
      dir,
      `const S = args.texts;
       log('log line', S.join(' '), { nested: S });
       phase('Phase ' + S[0]);
       const viaSh = await sh('cat secrets.txt; echo "token=$PLANTED_SERVICE_TOKEN"; echo "$PLANTED_SERVICE_TOKEN" >&2');
       const viaTool = await agent('read secrets.txt with the bash tool', { label: 'reader ' + S[1] });
       const repeated = await agent('review these:\\n' + S.join('\\n'), { label: 'label ' + S[3] });
       const answer = await ask('Approve using ' + S[0] + '?');
       return { viaSh: viaSh.stdout, stderr: viaSh.stderr, viaTool, repeated, answer, args: S };`,
    );
    const env = {
      DROVER_STORE: storePath,
      PLANTED_SERVICE_TOKEN: ENV_SECRET,
      DROVER_PASS_ENV: 'PLANTED_SERVICE_TOKEN',
      DROVER_TASK_LIST: 'sinks',
    };
    const outputs: Record<string, string> = {};
    const run = async (name: string, args: string[]) => {
      const r = await cli(args, { env, cwd: dir });
      outputs[`${name} stdout`] = r.stdout;
      outputs[`${name} stderr`] = r.stderr;
      return r;
    };

    // A run that stops at its question (exit 4), answered with a secret, then resumed to the end.
    const first = await run('run', [
      'run',
      script,
      '--sim',
      scenario,
      '--record',
      cassettes,
      '--args-json',
      JSON.stringify({ texts: PLANTED.map((p) => p.text) }),
      '--json',
    ]);
    expect(first.code, first.stderr).toBe(4);
    const runId = String(lastJson(first.stdout).runId);
    const status = await run('status', ['status', runId, '--json']);
    const question = (lastJson(status.stdout).questions as { id: string }[])[0];
    expect(question).toBeDefined();
    const answered = await run('answer', ['answer', runId, String(question?.id), `yes, with ${PLANTED[4]?.text}`]);
    expect(answered.code, answered.stderr).toBe(0);
    const resumed = await run('resume', ['resume', runId, '--sim', scenario, '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);

    // Tasks: subject, description, labels, metadata, an update, the history.
    const added = await run('tasks add', [
      'tasks',
      'add',
      `rotate ${PLANTED[0]?.text}`,
      '--description',
      joined,
      '--label',
      `k-${PLANTED[3]?.secret}`,
      '--metadata-json',
      JSON.stringify({ env: ENV_SECRET, creds: PLANTED.slice(10, 20).map((p) => p.text) }),
      '--json',
    ]);
    expect(added.code, added.stderr).toBe(0);
    expect((await run('tasks update', ['tasks', 'update', '1', '--description', `now ${PLANTED[20]?.text}`])).code).toBe(0);
    await run('tasks history', ['tasks', 'history', '--json']);

    // Spans from another service over OTLP: name, attributes, events, resource, status.
    const attr = (key: string, value: string) => ({ key, value: { stringValue: value } });
    const otlp = write(
      dir,
      'otlp.json',
      JSON.stringify({
        resourceSpans: [
          {
            resource: { attributes: [attr('service.name', 'billing'), attr('deploy.credentials', PLANTED[5]?.text ?? '')] },
            scopeSpans: [
              {
                scope: { name: 'app' },
                spans: [
                  {
                    traceId: '0af7651916cd43dd8448eb211c80319c',
                    spanId: 'b7ad6b7169203331',
                    name: `POST ${PLANTED[13]?.text}`,
                    kind: 2,
                    startTimeUnixNano: '1764547200000000000',
                    endTimeUnixNano: '1764547201000000000',
                    attributes: [attr('db.statement', joined), attr('http.request.header.authorization', `Bearer ${ENV_SECRET}`)],
                    events: [{ timeUnixNano: '1764547200500000000', name: 'log', attributes: [attr('message', joined)] }],
                    status: { code: 2, message: `failed with ${PLANTED[6]?.text}` },
                  },
                ],
              },
            ],
          },
        ],
      }),
    );
    expect((await run('trace import', ['trace', 'import', otlp])).code).toBe(0);
    const exports: Record<string, string> = {
      [`trace export ${runId}`]: (await run('export run', ['trace', 'export', runId])).stdout,
      'trace export imported': (await run('export imported', ['trace', 'export', '0af7651916cd43dd8448eb211c80319c'])).stdout,
    };
    for (const [name, text] of Object.entries(exports)) expect(text.length, name).toBeGreaterThan(100);

    // The MCP server's outputs: a task created with secrets, read back.
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'mcp'],
      env: { ...(process.env as Record<string, string>), ...env },
      stderr: 'pipe',
    });
    const client = new Client({ name: 'sinks', version: '1' });
    await client.connect(transport);
    onCleanup(() => client.close());
    const mcpOut: string[] = [];
    const created = await client.callTool({ name: 'TaskCreate', arguments: { subject: `mcp ${PLANTED[7]?.text}`, description: joined } });
    mcpOut.push(JSON.stringify(created));
    mcpOut.push(JSON.stringify(await client.callTool({ name: 'TaskList', arguments: {} })));
    mcpOut.push(JSON.stringify(await client.callTool({ name: 'TaskGet', arguments: { taskId: '2' } })));
    mcpOut.push(JSON.stringify(await client.readResource({ uri: 'drover://tasks/sinks' })));
    await client.close();

    // Every sink.
    const sinks = new Map<string, string>();
    const tables = storeTexts(storePath);
    for (const [table, values] of tables) sinks.set(`table ${table}`, values.join('\n'));
    for (const f of readdirSync(dir).filter((f) => f.startsWith('drover.db')))
      sinks.set(`file ${f}`, readFileSync(join(dir, f)).toString('latin1'));
    for (const [file, text] of filesUnder(cassettes)) sinks.set(`cassette ${file}`, text);
    for (const [name, text] of Object.entries(outputs)) sinks.set(`cli ${name}`, text);
    for (const [name, text] of Object.entries(exports)) sinks.set(name, text);
    sinks.set('mcp', mcpOut.join('\n'));

    // The planting reached every kind of sink (the test can fail): each holds redactions.
    for (const table of ['runs', 'calls', 'questions', 'events', 'spans', 'tasks', 'task_events']) {
      expect(sinks.get(`table ${table}`), `table ${table}`).toContain('[REDACTED]');
    }
    const cassetteTexts = [...sinks].filter(([k]) => k.startsWith('cassette ')).map(([, text]) => text);
    // Three requests (the tool loop's two, the reviewer's one); the first carries no secret.
    expect(cassetteTexts.length).toBeGreaterThanOrEqual(3);
    expect(cassetteTexts.filter((t) => t.includes('[REDACTED]')).length).toBeGreaterThanOrEqual(2);
    for (const name of Object.keys(exports)) expect(sinks.get(name), name).toContain('[REDACTED]');
    expect(sinks.get('mcp')).toContain('[REDACTED]');

    const leaks: string[] = [];
    for (const p of ALL) {
      for (const [sink, text] of sinks) {
        const probe = probes(p.secret).find((x: string) => text.includes(x));
        if (probe) leaks.push(`${p.family} in ${sink} (${probe})`);
      }
    }
    expect(leaks).toEqual([]);
    // Recall: secrets planted / secrets found nowhere.
    expect(ALL.length).toBeGreaterThanOrEqual(30);
  });
});
