/**
 * @module The secret-name rule: environment variables whose names say they hold a secret. Their values
 * are redacted wherever they appear (whatever their shape), and they are kept out of the environment of
 * every process drover starts for a script or an agent.
 */

const SECRET_NAME = /(API_KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL)/i;
/** Values shorter than this are not redacted by name: too likely to occur by chance (`true`, `1`, `dev`). */
const MIN_VALUE_LENGTH = 8;

/** An environment variable whose name says it holds a secret. */
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/**
 * The values of `env`'s secret-named variables (8 characters or more), longest first, each also as it
 * reads inside a JSON string when that differs (a value with a quote, backslash or control character).
 */
export function secretEnvValues(env: NodeJS.ProcessEnv): string[] {
  const values = new Set<string>();
  for (const [name, value] of Object.entries(env)) {
    if (!value || value.length < MIN_VALUE_LENGTH || !isSecretName(name)) continue;
    values.add(value);
    values.add(JSON.stringify(value).slice(1, -1));
  }
  return [...values].sort((a, b) => b.length - a.length);
}

// Reading process.env costs ~70 µs per walk (it is a view of the C environment): the secret values are
// kept, and read again at most once a second and whenever refreshSecretEnv() is called (every run start).
let cached: { values: string[]; at: number } | undefined;
const REFRESH_MS = 1000;
const explicit = new WeakMap<NodeJS.ProcessEnv, string[]>();

/** Forgets the cached secret values of `process.env` (call after setting a secret variable in process). */
export function refreshSecretEnv(): void {
  cached = undefined;
}

/**
 * The secret values of `env`: cached for `process.env` (see refreshSecretEnv), and per object for
 * other environments (an environment object passed in is treated as unchanging).
 */
export function secretValuesOf(env: NodeJS.ProcessEnv): string[] {
  if (env === process.env) {
    const now = performance.now();
    if (!cached || now - cached.at > REFRESH_MS) cached = { values: secretEnvValues(env), at: now };
    return cached.values;
  }
  let values = explicit.get(env);
  if (!values) {
    values = secretEnvValues(env);
    explicit.set(env, values);
  }
  return values;
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
