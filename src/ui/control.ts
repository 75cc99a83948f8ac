/**
 * @module The dashboard's run actions: stop (one run or many) and resume in a detached driver.
 * The page calls them through `POST /api/runs/:id/stop`, `POST /api/runs/stop` and
 * `POST /api/runs/:id/resume` (token required, like every state-changing request: server.ts).
 */
import { InputError, NotFoundError } from '../core/index.js';
import type { Store, TranscriptRecord } from '../store/index.js';
import { type StopResult, stopRun } from '../workflow/control.js';
import { type DetachedDriver, startDetached } from '../workflow/detach.js';
import type { RunState } from '../workflow/inspect.js';
import { callTranscripts, findAgentCall } from '../workflow/transcript-view.js';

/** Most runs one bulk stop takes. */
export const MAX_BULK_STOP = 500;

/** Which actions the page offers for a run in `state`: stop a live or waiting run; resume one nobody drives that has work left. */
export function runActions(state: RunState): { stop: boolean; resume: boolean; fork: boolean } {
  return {
    stop: state === 'running' || state === 'waiting' || state === 'interrupted',
    resume: state === 'interrupted' || state === 'stopped' || state === 'waiting' || state === 'failed' || state === 'budget_exceeded',
    fork: false,
  };
}

/** Stops one run without waiting for its driver (the page sees the run end `stopped` over the live stream). */
export function stopOne(store: Store, runId: string): Promise<StopResult> {
  return stopRun(store, runId, { waitMs: 0 });
}

/**
 * Stops each run of `ids` (a JSON body's `runs`), in order.
 * @throws InputError (exit 2 → HTTP 400) when `ids` is not a non-empty list of at most MAX_BULK_STOP run ids
 */
export async function stopMany(store: Store, ids: unknown): Promise<{ runs: StopResult[] }> {
  if (!Array.isArray(ids) || ids.length === 0 || !ids.every((id) => typeof id === 'string' && id.length > 0)) {
    throw new InputError('body.runs must be a non-empty array of run ids');
  }
  if (ids.length > MAX_BULK_STOP) throw new InputError(`body.runs: at most ${MAX_BULK_STOP} runs at once (got ${ids.length})`);
  const runs: StopResult[] = [];
  for (const id of ids as string[]) runs.push(await stopRun(store, id, { waitMs: 0 }));
  return { runs };
}

/**
 * Resumes a run in a detached `drover resume` process on the same store (the UI process's working
 * directory and environment); resolves once that process drives the run.
 */
export async function resumeDetached(store: Store, runId: string): Promise<DetachedDriver> {
  const run = await store.getRun(runId);
  if (!run) throw new NotFoundError(`run ${runId}`);
  // A completed run has nothing left to do (a running one is refused by startDetached: RUN_BUSY).
  if (run.status === 'completed') {
    throw new InputError(
      `run ${runId} is completed: nothing to resume (fork it with drover run <script> --from ${runId})`,
      'NOT_RESUMABLE',
    );
  }
  return startDetached({ store, runId, argv: ['resume', runId] });
}

/**
 * An agent call's stored transcripts (every attempt, oldest first) for the drill-down; `attempts` is
 * empty when none was captured (content capture off when it ran), and `note` says so.
 * @throws NotFoundError for an unknown run or agent call
 */
export async function transcriptOf(
  store: Store,
  runId: string,
  callKey: string,
): Promise<{ attempts: TranscriptRecord[]; note: string | null }> {
  const call = await findAgentCall(store, runId, callKey);
  const attempts = await callTranscripts(store, runId, call.key);
  return {
    attempts,
    note:
      attempts.length > 0
        ? null
        : call.status === 'started'
          ? 'the transcript is stored when the agent finishes (with content capture on)'
          : 'no transcript: kept only when content capture is on as the agent runs (DROVER_TRACE_CONTENT=1, or "traceContent": true in drover.config.json)',
  };
}
