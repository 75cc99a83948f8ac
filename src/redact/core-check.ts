/**
 * @module The same rules run through secretlint's own engine (`lintSource` of `@secretlint/core`):
 * the reference the synchronous scanner (engine.ts) is held to in tests and the bench, and a way to
 * scan text off the hot path. Async, as core is.
 */
import { lintSource } from '@secretlint/core';
import type { SecretLintCoreConfig } from '@secretlint/types';
import type { SecretFinding } from './engine.js';
import { ruleDescriptors } from './engine.js';

let config: SecretLintCoreConfig | undefined;

/** Every finding secretlint core reports in `text` with drover's rule set (preset minus gcp and filter-comments, plus drover's). */
export async function lintWithCore(text: string): Promise<SecretFinding[]> {
  config ??= { rules: ruleDescriptors() } as unknown as SecretLintCoreConfig;
  const result = await lintSource({
    source: { content: text, filePath: '/drover/text', ext: '', contentType: 'text' },
    options: { config, noPhysicFilePath: true },
  });
  return result.messages.map((m) => ({ ruleId: m.ruleId, start: m.range[0], end: m.range[1] }));
}
