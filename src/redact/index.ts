/**
 * @module redact: secrets out of everything drover stores or exports. Rules: secretlint's recommended
 * preset (12.0.0) plus drover's own provider-key rules (engine.ts, drover-rules.ts); the values of
 * secret-named environment variables (env.ts). Retention per tier lives in retention.ts.
 */
export { findSecrets, findSecretsUnfiltered, mayHoldSecret, PREFILTER, type SecretFinding } from './engine.js';
export { childEnv, isSecretName, refreshSecretEnv, secretEnvValues } from './env.js';
export { mightNeedRedaction, REDACTED, redactDeep, redactedJson, redactJsonText, redactSecrets } from './redact.js';
export {
  DEFAULT_RETENTION,
  expired,
  type RetentionConfig,
  type RetentionPolicy,
  retentionFor,
  retentionProblem,
  TIERS,
  type Tier,
  tierOfRun,
} from './retention.js';
export { redactEventStream } from './sse.js';
