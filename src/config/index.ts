import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pricesProblem } from '../budget/price-check.js';
import type { PriceOverrides } from '../budget/prices.js';
import { InputError } from '../core/errors.js';
import { type RetentionConfig, retentionProblem } from '../redact/retention.js';
import { isPostgresUrl } from '../store/location.js';
import { checkNumericEnv, envInt } from './env.js';

export { checkNumericEnv, envInt, type IntEnvSpec, NUMERIC_ENV, type NumericEnvName } from './env.js';

/**
 * `drover.config.json` at the project root. Unknown keys are refused so typos surface.
 * Checked by hand, not with zod: every command resolves config, and loading zod costs more than
 * a bare `node` start (see bench/startup.mjs); `drover tasks claim` runs in agents' loops.
 */
export interface ConfigFile {
  store?: string;
  synchronous?: SqliteSynchronous;
  gateway?: string;
  backend?: 'builtin' | 'claude-code' | 'codex';
  provider?: 'anthropic' | 'openai' | 'openai-chat';
  model?: string;
  /** 1 to 256. */
  concurrency?: number;
  /** One trace per run in the store (default true). */
  tracing?: boolean;
  /** Prompts and answers on agent spans, secrets redacted (default false). */
  traceContent?: boolean;
  /** Also export drover's spans over OTLP/HTTP here (else OTEL_EXPORTER_OTLP_ENDPOINT). */
  otlpEndpoint?: string;
  /** Daily caps per UTC day: the whole store (a team's budget) and per workflow name. See docs/budget.md. */
  budget?: BudgetConfig;
  /** Prices by exact model id, replacing the built-in sheet's (docs/budget.md). */
  prices?: PriceOverrides;
  /** Retention per tier over drover's defaults (docs/redaction.md): `{ <tier>: { contentDays, runsDays, cassettesDays } }`. */
  retention?: RetentionConfig;
}

/** Config `budget`: USD and output-token caps per UTC day. */
export interface BudgetConfig {
  dailyUsd?: number;
  dailyTokens?: number;
  workflows?: Record<string, { dailyUsd?: number; dailyTokens?: number }>;
}

/** A key's check: undefined when the value is fine, else what is wrong. */
type Check = (value: unknown) => string | undefined;
const text: Check = (v) => (typeof v === 'string' && v.length > 0 ? undefined : 'expected a non-empty string');
const url: Check = (v) => (typeof v === 'string' && URL.canParse(v) ? undefined : 'expected a URL (e.g. http://127.0.0.1:8787)');
const flag: Check = (v) => (typeof v === 'boolean' ? undefined : 'expected true or false');
const oneOf =
  (...choices: string[]): Check =>
  (v) =>
    typeof v === 'string' && choices.includes(v) ? undefined : `expected one of ${choices.map((c) => `"${c}"`).join(', ')}`;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const positiveUsd: Check = (v) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? undefined : 'expected a number of USD > 0');
const positiveTokens: Check = (v) => (Number.isInteger(v) && (v as number) >= 1 ? undefined : 'expected a whole number of tokens ≥ 1');
/** Checks an object's keys against `keys`; the problem names the key path. */
const shape =
  (keys: Record<string, Check>): Check =>
  (v) => {
    if (!isObject(v)) return 'expected an object';
    for (const [key, value] of Object.entries(v)) {
      const check = keys[key];
      if (!check) return `${key}: unknown key (known: ${Object.keys(keys).join(', ')})`;
      const problem = check(value);
      if (problem) return `${key}: ${problem}`;
    }
    return undefined;
  };
const dailyCaps = { dailyUsd: positiveUsd, dailyTokens: positiveTokens };
const budget: Check = shape({
  ...dailyCaps,
  workflows: (v) => {
    if (!isObject(v)) return 'expected an object of workflow name → { dailyUsd, dailyTokens }';
    for (const [name, caps] of Object.entries(v)) {
      const problem = shape(dailyCaps)(caps);
      if (problem) return `${name}: ${problem}`;
    }
    return undefined;
  },
});
const CONFIG_KEYS: Record<keyof ConfigFile, Check> = {
  store: text,
  synchronous: oneOf('off', 'normal', 'full', 'extra'),
  gateway: url,
  backend: oneOf('builtin', 'claude-code', 'codex'),
  provider: oneOf('anthropic', 'openai', 'openai-chat'),
  model: text,
  concurrency: (v) =>
    Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 256 ? undefined : 'expected a whole number from 1 to 256',
  tracing: flag,
  traceContent: flag,
  otlpEndpoint: url,
  budget,
  prices: () => undefined, // checked by pricesProblem, which names the nested key
  retention: retentionProblem,
};

/** The first problem of a parsed config file as `[where, what]`, or undefined when it is valid. */
function configProblem(raw: unknown): [string, string] | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return ['(top level)', 'expected an object'];
  for (const [key, value] of Object.entries(raw)) {
    const check = CONFIG_KEYS[key as keyof ConfigFile];
    if (!check) return [key, `unknown key (known: ${Object.keys(CONFIG_KEYS).join(', ')})`];
    const problem = check(value);
    if (problem) return [key, problem];
  }
  return pricesProblem((raw as ConfigFile).prices ?? {});
}

export type SqliteSynchronous = 'off' | 'normal' | 'full' | 'extra';

export interface Config {
  /** Folder holding `.git` or `drover.config.json`, else the working directory. */
  projectRoot: string;
  storePath: string;
  synchronous: SqliteSynchronous;
  gateway: string | undefined;
  backend: string;
  /** Model endpoint API of the builtin backend. */
  provider: 'anthropic' | 'openai' | 'openai-chat' | undefined;
  /** Unset: each backend's own default (see defaultModelFor). */
  model: string | undefined;
  concurrency: number | undefined;
  tracing: boolean | undefined;
  traceContent: boolean | undefined;
  otlpEndpoint: string | undefined;
  /** Daily caps (config `budget`); undefined when none. */
  budget: BudgetConfig | undefined;
  /** `prices` of drover.config.json: model id → price, over the built-in sheet (empty when none). */
  prices: PriceOverrides;
  /** `retention` of drover.config.json (undefined: drover's defaults per tier). */
  retention: RetentionConfig | undefined;
}

export interface ConfigOverrides {
  cwd?: string;
  store?: string;
  env?: NodeJS.ProcessEnv;
}

export const DEFAULT_MODEL = 'claude-sonnet-5';

export function findProjectRoot(start: string): string {
  let dir = resolve(start);
  for (;;) {
    if (existsSync(join(dir, '.git')) || existsSync(join(dir, 'drover.config.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return resolve(start);
    dir = parent;
  }
}

function readConfigFile(root: string): ConfigFile {
  const file = join(root, 'drover.config.json');
  if (!existsSync(file)) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new InputError(`${file}: not valid JSON (${(err as Error).message})`, 'INVALID_CONFIG');
  }
  const problem = configProblem(raw);
  if (problem) throw new InputError(`${file}: ${problem[0]}: ${problem[1]}`, 'INVALID_CONFIG');
  return raw as ConfigFile;
}

/** Resolves config once: flags > DROVER_* env > drover.config.json > defaults. */
export function resolveConfig(overrides: ConfigOverrides = {}): Config {
  const env = overrides.env ?? process.env;
  const cwd = overrides.cwd ?? process.cwd();
  const projectRoot = findProjectRoot(cwd);
  const file = readConfigFile(projectRoot);
  const storeSetting = overrides.store ?? env.DROVER_STORE ?? file.store;
  // `postgress://…` or `mysql://…` is a mistyped URL, never a file to create.
  const scheme = storeSetting?.match(/^([A-Za-z][A-Za-z0-9+.-]*):\/\//)?.[1];
  if (storeSetting && scheme && !isPostgresUrl(storeSetting)) {
    const where = overrides.store ? '--store' : env.DROVER_STORE ? 'DROVER_STORE' : 'drover.config.json store';
    throw new InputError(
      `${where}: "${scheme}://" is not a store drover can use: give an SQLite file path or a postgres:// URL`,
      'BAD_STORE',
    );
  }
  // A PostgreSQL URL is the location itself; a file path is resolved like any other.
  const storePath = storeSetting
    ? isAbsolute(storeSetting) || isPostgresUrl(storeSetting)
      ? storeSetting
      : resolve(overrides.store || env.DROVER_STORE ? cwd : projectRoot, storeSetting)
    : join(projectRoot, '.drover', 'drover.db');
  const syncSetting = (env.DROVER_SYNCHRONOUS ?? file.synchronous ?? 'normal').toLowerCase();
  if (!['off', 'normal', 'full', 'extra'].includes(syncSetting)) {
    throw new InputError(`DROVER_SYNCHRONOUS: "${syncSetting}" must be one of off, normal, full, extra`);
  }
  // Every whole-number DROVER_* variable is checked here, so a bad one stops any command before it opens anything.
  checkNumericEnv(env);
  const concurrency = envInt('DROVER_CONCURRENCY', env) ?? file.concurrency;
  return {
    projectRoot,
    storePath,
    synchronous: syncSetting as SqliteSynchronous,
    gateway: env.DROVER_GATEWAY ?? file.gateway,
    backend: env.DROVER_BACKEND ?? file.backend ?? 'builtin',
    provider: parseProvider(env.DROVER_PROVIDER) ?? file.provider,
    model: env.DROVER_MODEL ?? file.model,
    concurrency,
    tracing: file.tracing,
    traceContent: file.traceContent,
    otlpEndpoint: file.otlpEndpoint,
    budget: file.budget,
    prices: file.prices ?? {},
    retention: file.retention,
  };
}

function parseProvider(value: string | undefined): Config['provider'] {
  if (value === undefined || value === '') return undefined;
  if (value === 'anthropic' || value === 'openai' || value === 'openai-chat') return value;
  throw new InputError(`DROVER_PROVIDER: "${value}" is not one of anthropic, openai, openai-chat`);
}
