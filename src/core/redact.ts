/**
 * Redaction moved to src/redact (secretlint's recommended preset plus drover's rules); core re-exports
 * the functions every module used from here.
 */
export { childEnv, isSecretName, REDACTED, redactDeep, redactSecrets } from '../redact/index.js';
