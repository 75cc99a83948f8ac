/**
 * @module The secret scanner: secretlint's recommended preset (12.0.0) plus drover's own rules
 * (drover-rules.ts), run synchronously on a string, returning the ranges to redact.
 *
 * Why not `lintSource` of `@secretlint/core` on every write: it is async (drover's writers are sync),
 * builds a line index per text and records `performance.mark`s into a process-wide profiler that keeps
 * every entry — on a path that runs for every journal write, span and transcript that is a leak. So the
 * preset's rule creators run here through a small synchronous rule context (the `SecretLintRuleContext`
 * contract of `@secretlint/types`), created once; `lintWithCore` (core-check.ts) runs the same rules
 * through `@secretlint/core`, and a test holds both to the same findings.
 *
 * Speed: a combined regex of every rule's anchors (literal prefixes such as `ghp_`, `sk-`, `PRIVATE KEY`)
 * is tested first; only text that matches it runs the rules. The preset module (~220 KB) is loaded on
 * the first candidate, so commands that never see one never load it.
 */
import { createRequire } from 'node:module';
import type { SecretLintRuleContext, SecretLintRuleCreator, SecretLintRuleReportDescriptor, SecretLintSourceCode } from '@secretlint/types';
import { DROVER_RULE_SPECS, toRuleCreator } from './drover-rules.js';

/** One secret found in a text: the rule that saw it and its UTF-16 range `[start, end)`. */
export interface SecretFinding {
  ruleId: string;
  start: number;
  end: number;
}

/** Builds a regex source matching `word` in any letter case (Node 20's RegExp has no inline `(?i)`). */
function anyCase(word: string): string {
  return [...word]
    .map((c) => (/[a-z]/i.test(c) ? `[${c.toUpperCase()}${c.toLowerCase()}]` : c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')))
    .join('');
}

/**
 * For every rule of the preset, a regex source that each of its reports contains (read from the
 * rules' patterns in @secretlint/secretlint-rule-preset-recommend 12.0.0). A preset rule without an
 * entry here is an error at load: the prefilter would otherwise hide it.
 */
export const PRESET_ANCHORS: Readonly<Record<string, string | null>> = {
  // Access key ids (enableIDScanRule), `…SECRET_ACCESS_KEY = <40>`, `account_id: 1234-5678-9012`.
  '@secretlint/secretlint-rule-aws':
    '(?:A3T[A-Z0-9]|AKIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ASIA)[A-Z0-9]{16}|(?:SECRET|[Ss]ecret)_?(?:ACCESS|[Aa]ccess)|(?:ACCOUNT|[Aa]ccount)_?(?:ID|[Ii]d)?["\']?\\s*(?:=>|=|:)',
  '@secretlint/secretlint-rule-privatekey': 'PRIVATE KEY',
  '@secretlint/secretlint-rule-npm': 'npm_|x-oauth-basic@',
  // basic auth in URLs and the MongoDB / MySQL / PostgreSQL URLs all need `//user:password@`.
  '@secretlint/secretlint-rule-basicauth': '//[^:/\\s]{1,256}:[^@/\\s]{1,256}@',
  '@secretlint/secretlint-rule-database-connection-string': '//[^:/\\s]{1,256}:[^@/\\s]{1,256}@',
  '@secretlint/secretlint-rule-slack': `xox[bpaor]-|xapp-|${anyCase('hooks.slack.com')}`,
  '@secretlint/secretlint-rule-sendgrid': 'SG\\.',
  '@secretlint/secretlint-rule-shopify': 'shp(?:pa|ca|at|ss)_',
  '@secretlint/secretlint-rule-github': 'gh[pousr]_|github_pat_',
  '@secretlint/secretlint-rule-gitlab': 'glpat-',
  '@secretlint/secretlint-rule-grafana': 'glc_|glsa_',
  '@secretlint/secretlint-rule-openai': 'T3BlbkFJ',
  '@secretlint/secretlint-rule-anthropic': 'sk-ant-',
  '@secretlint/secretlint-rule-groq': 'gsk_',
  '@secretlint/secretlint-rule-huggingface': 'hf_',
  '@secretlint/secretlint-rule-linear': 'lin_api_',
  '@secretlint/secretlint-rule-notion': 'ntn_',
  '@secretlint/secretlint-rule-1password': 'ops_ey',
  '@secretlint/secretlint-rule-hashicorp-vault': 'hv[sbr]\\.',
  '@secretlint/secretlint-rule-vercel': 'vc[pciark]_',
  '@secretlint/secretlint-rule-databricks': 'dapi',
  '@secretlint/secretlint-rule-docker': 'dckr_pat_',
  '@secretlint/secretlint-rule-figma': 'figd_',
  // Not run (null): gcp only reads `.json`/`.p12` files (a service-account key's PEM block is caught by the
  // private-key rules); filter-comments lets text switch detection off (`secretlint-disable`), which
  // model-written text must not be able to do.
  '@secretlint/secretlint-rule-gcp': null,
  '@secretlint/secretlint-rule-filter-comments': null,
};

/** Options drover gives preset rules: AWS access key ids are reported too (off by default in secretlint). */
export const PRESET_OPTIONS: Readonly<Record<string, object>> = {
  '@secretlint/secretlint-rule-aws': { enableIDScanRule: true },
};

interface LoadedRule {
  id: string;
  /** The rule's own anchor: the rule runs only on text that matches it. */
  anchor: RegExp;
  file: (source: SecretLintSourceCode) => void | Promise<void>;
}

/** Each rule's anchor source, by rule id. */
const ANCHOR_OF: Readonly<Record<string, string>> = {
  ...(Object.fromEntries(Object.entries(PRESET_ANCHORS).filter(([, a]) => a !== null)) as Record<string, string>),
  ...Object.fromEntries(DROVER_RULE_SPECS.map((s) => [s.id, s.anchor])),
};

type Preset = { rules: SecretLintRuleCreator<object>[] };

/** The preset's rule creators, in preset order (loaded synchronously: require(esm) works from Node 20.19). */
export function presetRules(): SecretLintRuleCreator<object>[] {
  const require = createRequire(import.meta.url);
  return (require('@secretlint/secretlint-rule-preset-recommend') as Preset).rules;
}

/** The rules drover runs, as secretlint descriptors `{ id, rule, options }` (preset minus the skipped, then drover's). */
export function ruleDescriptors(): { id: string; rule: SecretLintRuleCreator<object>; options: object }[] {
  const out: { id: string; rule: SecretLintRuleCreator<object>; options: object }[] = [];
  for (const rule of presetRules()) {
    const id = rule.meta.id;
    if (!(id in PRESET_ANCHORS)) throw new Error(`redact: preset rule ${id} has no prefilter anchor (src/redact/engine.ts)`);
    if (PRESET_ANCHORS[id] === null) continue;
    out.push({ id, rule, options: PRESET_OPTIONS[id] ?? {} });
  }
  for (const spec of DROVER_RULE_SPECS) out.push({ id: spec.id, rule: toRuleCreator(spec) as SecretLintRuleCreator<object>, options: {} });
  return out;
}

/** Every anchor as one regex: a text that does not match it holds nothing any rule would report. */
export const PREFILTER = new RegExp(
  [...new Set([...Object.values(PRESET_ANCHORS).filter((a): a is string => a !== null), ...DROVER_RULE_SPECS.map((s) => s.anchor)])]
    .map((a) => `(?:${a})`)
    .join('|'),
);

/** The synchronous scanner: rule handlers created once, reports collected per call. */
class Scanner {
  private readonly rules: LoadedRule[] = [];
  private current: SecretFinding[] = [];
  private currentRule = '';

  constructor() {
    for (const d of ruleDescriptors()) {
      const context: SecretLintRuleContext = {
        sharedOptions: {},
        createTranslator: ((messages: Record<string, { en: (p?: object) => string }>) => (messageId: string, data?: object) => ({
          message: messages[messageId]?.en(data) ?? messageId,
          messageId,
          data,
        })) as SecretLintRuleContext['createTranslator'],
        report: (desc: SecretLintRuleReportDescriptor) => this.report(desc),
        ignore: () => {},
      };
      const handler = d.rule.create(context, d.options);
      const anchor = new RegExp(ANCHOR_OF[d.id] as string);
      if (handler.file) this.rules.push({ id: d.id, anchor, file: handler.file.bind(handler) });
    }
  }

  private report(desc: SecretLintRuleReportDescriptor): void {
    const [start, end] = desc.range;
    this.current.push({ ruleId: this.currentRule, start, end });
    // Some preset rules report a range that does not cover the whole secret (aws: the range starts at the
    // variable name and is as long as the key): every occurrence of the secret values a report carries
    // is added too.
    const data = desc.message.data as Record<string, unknown> | undefined;
    if (!data) return;
    for (const v of Object.values(data)) {
      // Only when the range is not the value itself (searching every report's value again is quadratic).
      if (typeof v !== 'string' || v.length < 8 || this.text.slice(start, end).includes(v)) continue;
      for (let i = this.text.indexOf(v); i !== -1; i = this.text.indexOf(v, i + v.length)) {
        this.current.push({ ruleId: this.currentRule, start: i, end: i + v.length });
      }
    }
  }

  private text = '';

  scan(text: string): SecretFinding[] {
    this.current = [];
    this.runRules(text);
    // JSON and other escaped text (a request body, a span attribute holding JSON): `\nghp_…` has a letter
    // before the key, which rules that look behind for a non-letter refuse. The same text with every
    // escape sequence blanked (same length, so ranges hold) is scanned too.
    if (text.includes('\\')) {
      const view = text.replace(/\\(?:u[0-9a-fA-F]{4}|[\s\S])/g, (m) => ' '.repeat(m.length));
      if (view !== text) this.runRules(view);
    }
    const found = this.current;
    this.current = [];
    this.text = '';
    return found;
  }

  private runRules(text: string): void {
    this.text = text;
    const source = {
      content: text,
      filePath: undefined,
      ext: '',
      contentType: 'text',
      hasBOM: false,
    } as unknown as SecretLintSourceCode;
    for (const r of this.rules) {
      if (!r.anchor.test(text)) continue;
      this.currentRule = r.id;
      const out = r.file(source);
      // Every scanner drover runs is synchronous (the preset's only async path is gcp's .p12 check, not run).
      if (out instanceof Promise) out.catch(() => {});
    }
  }
}

let scanner: Scanner | undefined;

/**
 * The secrets in `text`, by rule, in order of start (overlapping findings are all listed).
 * Synchronous; loads the rules on the first text the prefilter lets through.
 */
export function findSecrets(text: string): SecretFinding[] {
  if (text.length < 8 || !PREFILTER.test(text)) return [];
  scanner ??= new Scanner();
  return scanner.scan(text).sort((a, b) => a.start - b.start || b.end - a.end);
}

/** Every rule run on `text` without the prefilter: for tests and the bench, which hold the prefilter to it. */
export function findSecretsUnfiltered(text: string): SecretFinding[] {
  scanner ??= new Scanner();
  return scanner.scan(text).sort((a, b) => a.start - b.start || b.end - a.end);
}

/** Whether any rule could report in `text` (the prefilter alone: cheap, never a false "no"). */
export function mayHoldSecret(text: string): boolean {
  return text.length >= 8 && PREFILTER.test(text);
}
