import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lintWithCore } from '../src/redact/core-check.js';
import { PRESET_ANCHORS, presetRules } from '../src/redact/engine.js';
import {
  childEnv,
  findSecrets,
  findSecretsUnfiltered,
  mayHoldSecret,
  REDACTED,
  redactDeep,
  redactEventStream,
  redactJsonText,
  redactSecrets,
} from '../src/redact/index.js';
// @ts-expect-error: a plain .mjs module shared with the bench (no type declarations)
import { plantedSecrets, probes } from './fixtures/planted-secrets.mjs';
import { ROOT } from './helpers.js';

const PLANTED = plantedSecrets() as { family: string; secret: string; text: string }[];
const key = (f: { ruleId: string; start: number; end: number }) => `${f.ruleId}@${f.start}-${f.end}`;

/** Text files of drover's own tree (src, test, docs, examples). */
function treeTexts(): string[] {
  const out: string[] = [];
  for (const top of ['src', 'test', 'docs', 'examples']) {
    for (const name of readdirSync(join(ROOT, top), { recursive: true }) as string[]) {
      if (!/\.(ts|mts|mjs|js|json|md|yaml|yml)$/.test(name)) continue;
      out.push(readFileSync(join(ROOT, top, name), 'utf8'));
    }
  }
  return out;
}

describe('the rule engine', () => {
  it('finds what secretlint core finds with the same rules, for every planted family', async () => {
    for (const p of PLANTED) {
      const text = `line one\n${p.text}\nline three`;
      const sync = new Set(findSecrets(text).map(key));
      const core = new Set((await lintWithCore(text)).map(key));
      // The sync engine adds the ranges of a report's secret values (the aws rule's range is short): a superset.
      for (const k of core) expect(sync.has(k), `${p.family}: core reports ${k}, the sync engine does not`).toBe(true);
      expect(core.size, `${p.family}: core reports nothing`).toBeGreaterThan(0);
    }
  });

  it('knows every rule of the preset (a new preset rule without a prefilter anchor fails here)', () => {
    expect(
      presetRules()
        .map((r) => r.meta.id)
        .filter((id) => !(id in PRESET_ANCHORS)),
    ).toEqual([]);
  });

  it('the prefilter never hides a finding: every text of drover’s tree that a rule reports in passes it', () => {
    let reported = 0;
    for (const text of [...treeTexts(), ...PLANTED.map((p) => p.text)]) {
      if (findSecretsUnfiltered(text).length === 0) continue;
      reported++;
      expect(mayHoldSecret(text)).toBe(true);
    }
    expect(reported).toBeGreaterThan(PLANTED.length - 1);
  });

  it('redacts the whole AWS secret key although the preset rule reports a range that starts at the variable name', () => {
    const p = PLANTED.find((x) => x.family === 'aws-secret-access-key');
    const out = redactSecrets(`export ${p?.text}\n`);
    for (const probe of probes(p?.secret ?? '')) expect(out).not.toContain(probe);
  });

  it('a secretlint-disable comment in the text does not switch redaction off', () => {
    const p = PLANTED.find((x) => x.family === 'github');
    expect(redactSecrets(`// secretlint-disable\n${p?.text}\n// secretlint-enable`)).not.toContain(p?.secret);
  });

  it('keeps text without secrets as it is (the same string) and JSON valid', () => {
    const plain = 'inputTokens: 1234, see https://example.com/a and the token budget of 20 agents';
    expect(redactSecrets(plain)).toBe(plain);
    const json = JSON.stringify({
      url: `postgres://app:${'Xy7'.repeat(6)}@db.corp/x"}`,
      n: 1,
      text: PLANTED.map((p) => p.text).join('\n'),
    });
    const out = redactJsonText(json);
    expect(() => JSON.parse(out)).not.toThrow();
    expect(out).toContain(REDACTED);
    expect(redactDeep({ [PLANTED[0]?.secret ?? '']: 1 })).toEqual({ [REDACTED]: 1 });
  });

  it('redacts the values of secret-named environment variables, and keeps them out of child environments', () => {
    const env = { SERVICE_TOKEN: 'plain-but-secret-value-1234', PATH: '/usr/bin', DROVER_PASS_ENV: '' };
    expect(redactSecrets('got plain-but-secret-value-1234 back', env)).toBe(`got ${REDACTED} back`);
    expect(childEnv({}, env).SERVICE_TOKEN).toBeUndefined();
    expect(childEnv({}, { ...env, DROVER_PASS_ENV: 'SERVICE_TOKEN' }).SERVICE_TOKEN).toBe(env.SERVICE_TOKEN);
  });
});

describe('streamed answers', () => {
  const sse = (pieces: string[]) =>
    pieces
      .map(
        (t) =>
          `event: content_block_delta\ndata: ${JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: t } })}`,
      )
      .join('\n\n');
  const joined = (body: string) =>
    body
      .split('\n\n')
      .map((b) => JSON.parse(b.split('\n')[1]?.slice(6) ?? '{}').delta.text)
      .join('');

  it.each(PLANTED.map((p) => [p.family, p] as const))('a %s key split over delta events is cut out of each piece', (_f, p) => {
    const text = `the key is ${p.text} ok`;
    const cut = [0, 14, 17, 30, 45, text.length].filter((n, i, a) => n <= text.length && a.indexOf(n) === i);
    const pieces = cut.slice(0, -1).map((n, i) => text.slice(n, cut[i + 1]));
    const out = redactEventStream(sse(pieces));
    for (const probe of probes(p.secret)) expect(out).not.toContain(probe);
    expect(joined(out)).toContain(REDACTED);
    expect(joined(out).startsWith('the key is ')).toBe(true);
  });

  it('leaves a stream without secrets byte for byte', () => {
    const body = sse(['hello ', 'world']);
    expect(redactEventStream(body)).toBe(body);
  });
});
