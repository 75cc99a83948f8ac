import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ccScript, cli, lastJson, tempDir, write } from './helpers.js';

/** A key shaped like Anthropic's, made up for this test. */
const KEY = `sk-ant-api03-${'Zq7x'.repeat(20)}AA`;
/** A secret with no known shape: only its variable's name marks it. */
const TOKEN_VALUE = 'plain-but-secret-value-1234';

describe('secrets stay out of everything a run stores and exports', () => {
  it('a key planted in env, args, prompts, commands, outputs, labels and logs is in no store file and no export', async () => {
    const dir = tempDir();
    const db = join(dir, 'drover.db');
    const scenario = write(dir, 'scenario.yaml', `rules:\n  - turns: [{ text: 'the model repeats ${KEY}' }]\n`);
    const script = ccScript(
      dir,
      `const fromEnv = await sh('echo "$PLANTED_API_KEY $SERVICE_TOKEN"; echo "$OTHER_API_KEY" >&2');
       const fromArgs = await sh('echo ' + args.key);
       log('logging', args.key, { nested: args.key });
       phase('Phase ' + args.key);
       const answer = await agent('use ' + args.key + ' please');
       const labelled = await agent('second', { label: 'label ' + args.key });
       return { fromEnv: fromEnv.stdout, stderr: fromEnv.stderr, fromArgs: fromArgs.stdout, answer, labelled, echo: args.key };`,
    );
    const env = {
      DROVER_STORE: db,
      PLANTED_API_KEY: KEY,
      SERVICE_TOKEN: TOKEN_VALUE,
      OTHER_API_KEY: 'never-passed-to-children-9876',
      DROVER_PASS_ENV: 'PLANTED_API_KEY,SERVICE_TOKEN',
    };
    const r = await cli(['run', script, '--sim', scenario, '--args-json', JSON.stringify({ key: KEY }), '--json'], { env, cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const summary = lastJson(r.stdout);
    const result = summary.result as Record<string, string>;
    // Passed on purpose (DROVER_PASS_ENV): the command saw them, and what it printed is redacted.
    expect(result.fromEnv?.trim()).toBe('[REDACTED] [REDACTED]');
    // Never passed: a secret-named variable not in DROVER_PASS_ENV is not in a command's environment.
    expect(result.stderr?.trim()).toBe('');
    expect(result.echo).toBe('[REDACTED]');
    expect(result.answer).toBe('the model repeats [REDACTED]');
    const exported = await cli(['trace', 'export', String(summary.runId)], { env, cwd: dir });
    const status = await cli(['status', String(summary.runId), '--json'], { env, cwd: dir });
    const sinks: Record<string, string> = {
      stdout: r.stdout,
      stderr: r.stderr,
      export: exported.stdout,
      status: status.stdout,
    };
    for (const f of readdirSync(dir).filter((f) => f.startsWith('drover.db'))) sinks[f] = readFileSync(join(dir, f)).toString('latin1');
    expect(Object.keys(sinks)).toContain('drover.db');
    for (const [sink, text] of Object.entries(sinks)) {
      expect(text.includes(KEY), `${sink} holds the key`).toBe(false);
      expect(text.includes(TOKEN_VALUE), `${sink} holds the token`).toBe(false);
      expect(text.includes('Zq7xZq7xZq7x'), `${sink} holds part of the key`).toBe(false);
    }
  });
});

describe('what drover run prints', () => {
  it('a key in a thrown error is redacted in the text and --json output, as in the store', async () => {
    const dir = tempDir();
    const key = `sk-ant-api03-${'Zq7'.repeat(30)}AA`;
    const script = ccScript(dir, `throw new Error('boom with ${key}');`);
    const env = { DROVER_STORE: join(dir, 'drover.db') };
    const text = await cli(['run', script], { cwd: dir, env });
    expect(text.code).toBe(1);
    expect(`${text.stdout}${text.stderr}`).toContain('boom with');
    expect(`${text.stdout}${text.stderr}`).not.toContain(key);
    const json = await cli(['run', script, '--json'], { cwd: dir, env });
    const summary = lastJson(json.stdout) as { status: string; error: { message: string } };
    expect(summary.status).toBe('failed');
    expect(summary.error.message).toContain('[REDACTED]');
    expect(`${json.stdout}${json.stderr}`).not.toContain(key);
  });
});
