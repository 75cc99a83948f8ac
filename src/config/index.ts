import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { InputError } from '../core/index.js';

/** `drover.config.json` at the project root. Unknown keys are refused so typos surface. */
const ConfigFileSchema = z
  .object({
    store: z.string().min(1).optional(),
    synchronous: z.enum(['off', 'normal', 'full', 'extra']).optional(),
    gateway: z.string().url().optional(),
    backend: z.enum(['builtin', 'claude-code', 'codex']).optional(),
    provider: z.enum(['anthropic', 'openai', 'openai-chat']).optional(),
    model: z.string().min(1).optional(),
    concurrency: z.number().int().min(1).max(256).optional(),
    /** One trace per run in the store (default true). */
    tracing: z.boolean().optional(),
    /** Prompts and answers on agent spans, secrets redacted (default false). */
    traceContent: z.boolean().optional(),
    /** Also export drover's spans over OTLP/HTTP here (else OTEL_EXPORTER_OTLP_ENDPOINT). */
    otlpEndpoint: z.string().url().optional(),
  })
  .strict();

export type ConfigFile = z.infer<typeof ConfigFileSchema>;
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
  const parsed = ConfigFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    throw new InputError(`${file}: ${where}: ${issue?.message ?? 'invalid'}`, 'INVALID_CONFIG');
  }
  return parsed.data;
}

/** Resolves config once: flags > DROVER_* env > drover.config.json > defaults. */
export function resolveConfig(overrides: ConfigOverrides = {}): Config {
  const env = overrides.env ?? process.env;
  const cwd = overrides.cwd ?? process.cwd();
  const projectRoot = findProjectRoot(cwd);
  const file = readConfigFile(projectRoot);
  const storeSetting = overrides.store ?? env.DROVER_STORE ?? file.store;
  const storePath = storeSetting
    ? isAbsolute(storeSetting)
      ? storeSetting
      : resolve(overrides.store || env.DROVER_STORE ? cwd : projectRoot, storeSetting)
    : join(projectRoot, '.drover', 'drover.db');
  const syncSetting = (env.DROVER_SYNCHRONOUS ?? file.synchronous ?? 'normal').toLowerCase();
  if (!['off', 'normal', 'full', 'extra'].includes(syncSetting)) {
    throw new InputError(`DROVER_SYNCHRONOUS: "${syncSetting}" must be one of off, normal, full, extra`);
  }
  let concurrency = file.concurrency;
  if (env.DROVER_CONCURRENCY) {
    concurrency = Number(env.DROVER_CONCURRENCY);
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new InputError(`DROVER_CONCURRENCY: "${env.DROVER_CONCURRENCY}" must be a positive integer`);
    }
  }
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
  };
}

function parseProvider(value: string | undefined): Config['provider'] {
  if (value === undefined || value === '') return undefined;
  if (value === 'anthropic' || value === 'openai' || value === 'openai-chat') return value;
  throw new InputError(`DROVER_PROVIDER: "${value}" is not one of anthropic, openai, openai-chat`);
}
