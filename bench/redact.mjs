// Redaction (issue 14 §3): recall on planted secrets of every rule family, false positives on drover's
// own tree (src/, test/ with its transcripts and fixtures, docs/, examples/), throughput (MB/s) and
// per-call cost, beside the hand-written rules drover had before and secretlint core's own lintSource.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { lintWithCore } from '../dist/redact/core-check.js';
import { findSecrets, redactDeep, redactEventStream, redactSecrets } from '../dist/redact/index.js';
import { plantedEnvSecret, plantedSecrets, probes } from '../test/fixtures/planted-secrets.mjs';
import { ROOT } from './lib.mjs';

/** drover's hand-written rules before this change (src/core/redact.ts at 55a5ef5), as the baseline. */
const OLD_PATTERNS = [
  /sk-ant-[A-Za-z0-9_-]{10,}/g,
  /sk-(?:proj-)?[A-Za-z0-9_-]{20,}/g,
  /gh[pousr]_[A-Za-z0-9]{20,}/g,
  /github_pat_[A-Za-z0-9_]{20,}/g,
  /xox[abpr]-[A-Za-z0-9-]{10,}/g,
  /AKIA[0-9A-Z]{16}/g,
  /(?<=\b[Bb]earer\s+)[A-Za-z0-9._~+/=-]{16,}/g,
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g,
];
function oldRedact(text, env = process.env) {
  let out = text;
  for (const p of OLD_PATTERNS) out = out.replace(p, '[REDACTED]');
  for (const [name, value] of Object.entries(env)) {
    if (value && value.length >= 8 && /(API_KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL)/i.test(name)) out = out.split(value).join('[REDACTED]');
  }
  return out;
}

function treeFiles() {
  const out = [];
  for (const top of ['src', 'test', 'docs', 'examples']) {
    for (const name of readdirSync(join(ROOT, top), { recursive: true })) {
      const file = join(ROOT, top, name);
      if (!statSync(file).isFile() || /\.(png|jpg|db|wasm)$/.test(name)) continue;
      out.push({ file: relative(ROOT, file), text: readFileSync(file, 'utf8') });
    }
  }
  return out;
}

/** µs per call of `fn` over `n` calls (after a warm-up), median of 5 rounds. */
function perCall(fn, n) {
  for (let i = 0; i < Math.min(n, 200); i++) fn();
  const rounds = [];
  for (let r = 0; r < 5; r++) {
    const t = performance.now();
    for (let i = 0; i < n; i++) fn();
    rounds.push(((performance.now() - t) * 1000) / n);
  }
  return +rounds.sort((a, b) => a - b)[2].toFixed(2);
}

/** MB/s of `fn` over `text` (median of 5). */
function mbPerS(fn, text) {
  fn(text);
  const rounds = [];
  for (let r = 0; r < 5; r++) {
    const t = performance.now();
    fn(text);
    rounds.push(text.length / 1e6 / ((performance.now() - t) / 1000));
  }
  return +rounds.sort((a, b) => a - b)[2].toFixed(1);
}

export async function benchRedact() {
  // Recall: every family alone, inside JSON with escapes, and split over a stream's delta events.
  const planted = plantedSecrets();
  const missed = [];
  for (const p of planted) {
    const forms = {
      text: redactSecrets(`before ${p.text} after`),
      json: redactSecrets(JSON.stringify({ log: `line\n${p.text}\n` })),
      deep: JSON.stringify(redactDeep({ nested: [{ value: `x ${p.text} y` }] })),
      sse: redactEventStream(
        [p.text.slice(0, 9), p.text.slice(9, 25), p.text.slice(25)]
          .map(
            (t) =>
              `event: content_block_delta\ndata: ${JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: t } })}`,
          )
          .join('\n\n'),
      ),
    };
    for (const [form, out] of Object.entries(forms))
      if (probes(p.secret).some((x) => out.includes(x))) missed.push(`${p.family} (${form})`);
  }
  const envSecret = plantedEnvSecret();
  if (redactSecrets(`x ${envSecret} y`, { SERVICE_TOKEN: envSecret }).includes(envSecret)) missed.push('env-value');
  const families = planted.length + 1;
  const oldMissed = planted
    .filter((p) => probes(p.secret).some((x) => oldRedact(`before ${p.text} after`, {}).includes(x)))
    .map((p) => p.family);

  // False positives on drover's own tree: every finding there is a false positive (no real key is in it).
  const files = treeFiles();
  const byRule = {};
  const examples = [];
  let findings = 0;
  let ranges = 0;
  let inTests = 0;
  let filesWithFindings = 0;
  for (const { file, text } of files) {
    const found = findSecrets(text);
    if (found.length) filesWithFindings++;
    const distinct = new Set();
    for (const f of found) {
      findings++;
      byRule[f.ruleId] = (byRule[f.ruleId] ?? 0) + 1;
      if (!distinct.has(`${f.start}`)) {
        distinct.add(`${f.start}`);
        if (file.startsWith('test/')) inTests++;
        examples.push(`${file}: ${f.ruleId}: ${text.slice(f.start, Math.min(f.end, f.start + 24))}…`);
      }
    }
    ranges += distinct.size;
  }
  // Throughput and per-call cost.
  const corpus = files.map((f) => f.text).join('\n');
  const journalJson = JSON.stringify(
    Array.from({ length: 2000 }, (_, i) => ({
      key: `agent:${i}`,
      prompt: `Fix the failing test number ${i} in src/x.ts`,
      result: { ok: true, tokens: 1234 + i },
    })),
  );
  const dense = planted
    .map((p) => p.text)
    .join('\n')
    .repeat(50);
  const label = 'review the auth module and list its risks';
  const medium = `The model answered: ${'the function parses the input, checks bounds and returns the tokens used. '.repeat(28)}`;
  const record = {
    prompt: medium,
    options: { label, model: 'claude-sonnet-5', schema: { type: 'object' } },
    result: { text: medium, findings: [label, label] },
  };
  // secretlint core's lintSource, per call, and the performance marks it leaves behind.
  const coreN = 300;
  const marks0 = performance.getEntriesByType('mark').length;
  const t = performance.now();
  for (let i = 0; i < coreN; i++) await lintWithCore(medium);
  const coreUs = +(((performance.now() - t) * 1000) / coreN).toFixed(1);
  const marksPerCall = +((performance.getEntriesByType('mark').length - marks0) / coreN).toFixed(1);

  return {
    recall: {
      families,
      missed,
      recallPct: +((100 * (families * 4 - 3 - missed.length)) / (families * 4 - 3)).toFixed(1),
      previousRulesMissed: oldMissed,
    },
    // `redactedSpans`: distinct places redacted; `inTestFiles`: of those, in test/ (tests plant fake keys on purpose).
    falsePositives: {
      files: files.length,
      bytes: corpus.length,
      findings,
      redactedSpans: ranges,
      inTestFiles: inTests,
      filesWithFindings,
      byRule,
      examples,
    },
    throughputMBps: {
      droverTree: mbPerS((s) => redactSecrets(s), corpus),
      journalJson: mbPerS((s) => redactSecrets(s), journalJson),
      denseSecrets: mbPerS((s) => redactSecrets(s), dense),
      previousRulesOnDroverTree: mbPerS((s) => oldRedact(s), corpus),
    },
    perCallUs: {
      label40Chars: perCall(() => redactSecrets(label), 200_000),
      text2KB: perCall(() => redactSecrets(medium), 20_000),
      redactDeepCallRecord: perCall(() => redactDeep(record), 20_000),
      previousRulesLabel40Chars: perCall(() => oldRedact(label), 20_000),
      secretlintCoreLintSource2KB: coreUs,
      secretlintCorePerformanceMarksPerCall: marksPerCall,
    },
    pass: missed.length === 0,
  };
}
