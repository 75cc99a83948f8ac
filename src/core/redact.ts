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
