import { canonicalJson, sha256Hex } from '../core/index.js';
import type { CallKind } from '../store/index.js';

/**
 * Call identity (DESIGN.md): a hash of the call's kind, its canonical inputs
 * and its occurrence number among identical calls of the run. Any call whose
 * key has a finished entry is served from the journal, wherever it sits in
 * the script, so an edit re-runs only what it changed.
 */
export class CallIdentity {
  private readonly seen = new Map<string, number>();

  keyFor(kind: CallKind, inputs: unknown): string {
    const base = sha256Hex(canonicalJson({ kind, inputs }));
    const occurrence = this.seen.get(base) ?? 0;
    this.seen.set(base, occurrence + 1);
    return `${kind}:${sha256Hex(`${base}:${occurrence}`).slice(0, 40)}`;
  }
}
