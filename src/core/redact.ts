/**
 * Removes secrets from text before it reaches traces, logs or transcripts:
 * well-known key shapes, bearer tokens, and the values of environment variables
 * whose names say they are secret.
 */
const PATTERNS: RegExp[] = [
  /sk-ant-[A-Za-z0-9_-]{10,}/g,
  /sk-(?:proj-)?[A-Za-z0-9_-]{20,}/g,
  /gh[pousr]_[A-Za-z0-9]{20,}/g,
  /github_pat_[A-Za-z0-9_]{20,}/g,
  /xox[abpr]-[A-Za-z0-9-]{10,}/g,
  /AKIA[0-9A-Z]{16}/g,
  /(?<=\b[Bb]earer\s+)[A-Za-z0-9._~+/=-]{16,}/g,
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g,
];
const SECRET_NAME = /(API_KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL)/i;

/** An environment variable whose name says it holds a secret. */
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

export const REDACTED = '[REDACTED]';

export function redactSecrets(text: string, env: NodeJS.ProcessEnv = process.env): string {
  let out = text;
  for (const p of PATTERNS) out = out.replace(p, REDACTED);
  for (const [name, value] of Object.entries(env)) {
    if (value && value.length >= 8 && isSecretName(name)) out = out.split(value).join(REDACTED);
  }
  return out;
}

/**
 * `redactSecrets` over every string of a JSON-like value (object keys included); other values
 * are kept. Used on everything a run persists: inputs, results, labels, logs, args.
 */
export function redactDeep<T>(value: T, env: NodeJS.ProcessEnv = process.env): T {
  // An explicit stack instead of recursion: results may nest deeper than the call stack allows.
  const copy = (v: unknown): unknown => {
    if (typeof v === 'string') return redactSecrets(v, env);
    if (v === null || typeof v !== 'object') return v;
    const root: unknown = Array.isArray(v) ? [] : {};
    const stack: [unknown, Record<string, unknown> | unknown[]][] = [[v, root as Record<string, unknown>]];
    while (stack.length > 0) {
      const [from, to] = stack.pop() as [Record<string, unknown>, Record<string, unknown>];
      for (const [k, item] of Object.entries(from)) {
        const key = Array.isArray(to) ? k : redactSecrets(k, env);
        if (item !== null && typeof item === 'object') {
          const child = Array.isArray(item) ? [] : {};
          to[key] = child;
          stack.push([item, child as Record<string, unknown>]);
        } else to[key] = typeof item === 'string' ? redactSecrets(item, env) : item;
      }
    }
    return root;
  };
  return copy(value) as T;
}

/**
 * The environment of every process drover starts for a script or an agent (`sh` steps, the builtin
 * agent's `bash` tool): the parent's, without variables whose names say they are secret — except
 * those named in `DROVER_PASS_ENV` (comma-separated), which a workflow needs on purpose — plus `extra`.
 */
export function childEnv(extra: Record<string, string> = {}, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const pass = new Set(
    (env.DROVER_PASS_ENV ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (!isSecretName(k) || pass.has(k)) out[k] = v;
  return { ...out, ...extra };
}
