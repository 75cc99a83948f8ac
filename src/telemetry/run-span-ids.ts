/**
 * @module Span ids of drover's own spans of a run, derived from what the store keeps, so that a
 * later execution (a resume after a crash) can name the spans an earlier one started: the root, each
 * phase, each execution, and each call attempt (from the journal entry's key and start time).
 */
import { createHash } from 'node:crypto';

const id16 = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);

/** The run's root span id: fixed, so every execution of a run hangs under one root. */
export function rootSpanIdForRun(runId: string): string {
  return id16(`drover-root:${runId}`);
}

/** The span id of phase `title` of a run: one span per phase across every execution. */
export function phaseSpanIdForRun(runId: string, title: string): string {
  return id16(`drover-phase:${runId}\u0000${title}`);
}

/** The span id of execution `n` (1 = `drover run`, 2 = the first `drover resume`, …). */
export function executionSpanIdForRun(runId: string, n: number): string {
  return id16(`drover-execution:${runId}\u0000${n}`);
}

/**
 * The span id of one attempt of a call: its journal key and the start time its journal entry
 * records (ms), so an attempt left open by a crash is known from the journal alone.
 */
export function callSpanIdForRun(runId: string, key: string, startedAtMs: number): string {
  return id16(`drover-call:${runId}\u0000${key}\u0000${startedAtMs}`);
}
