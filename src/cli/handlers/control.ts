/** @module `drover stop <run...>` and `drover resume <run> --detach`. */

import { InputError } from '../../core/errors.js';
import { type StopResult, stopRun } from '../../workflow/control.js';
import { startDetached } from '../../workflow/detach.js';
import { type GlobalFlags, openStore } from '../context.js';
import { EXIT, printJson } from '../output.js';

export interface StopFlags extends GlobalFlags {
  /** commander's `--no-wait`: false when given. */
  wait?: boolean;
  /** Seconds. */
  timeout?: number;
}

const said: Record<StopResult['outcome'], string> = {
  stopped: 'stopped',
  requested: 'stop requested (its driver has not ended it yet)',
  'already-stopped': 'already stopped',
  ended: 'already ended',
};

/**
 * Stops each run (see workflow/control.ts `stopRun`), waiting for its driver unless `--no-wait`.
 * Exit 0 when every run is stopped (or the request is stored, with --no-wait), 1 when a driver did
 * not end its run within --timeout, 2 when a run is unknown or had already ended.
 */
export async function stopCommand(ids: string[], flags: StopFlags): Promise<number> {
  const { store } = openStore(flags, { mustExist: true });
  try {
    const waitMs = flags.wait === false ? 0 : (flags.timeout ?? 30) * 1000;
    const results: StopResult[] = [];
    for (const id of ids) results.push(await stopRun(store, id, { waitMs }));
    if (flags.json) printJson(ids.length === 1 ? results[0] : { runs: results });
    else {
      for (const r of results) {
        const how = r.outcome === 'ended' ? `${said.ended} (${r.status}): nothing to stop` : said[r.outcome];
        process.stdout.write(`${r.runId}: ${how}${r.driver ? ` — driver pid ${r.driver.pid} on ${r.driver.host}` : ''}\n`);
        if (r.outcome === 'stopped') process.stdout.write(`  continue it with: drover resume ${r.runId}\n`);
      }
    }
    if (results.some((r) => r.outcome === 'ended')) return EXIT.input;
    if (flags.wait !== false && results.some((r) => r.outcome === 'requested')) return EXIT.failed;
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

/** `drover resume <run> --detach`: the driver as a detached child; prints the run id, its pid and its log. */
export async function resumeDetachedCommand(runId: string, flags: GlobalFlags & { plan?: boolean }): Promise<number> {
  const { config, store } = openStore(flags, { mustExist: true });
  try {
    // The child gets this command's own words, minus --detach (and minus --store: the helper names the store).
    const argv = childArgv(process.argv.slice(2));
    const d = await startDetached({ store, runId, argv, storeLocation: config.storePath });
    if (flags.json) printJson(d);
    else
      process.stdout.write(
        `${d.runId} resumed in the background: pid ${d.pid}, log ${d.log}${d.state === 'finished' ? ' (already finished)' : ''}\n`,
      );
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

/** Drops `--detach` and `--store <path>` / `--store=<path>` from CLI arguments. */
export function childArgv(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--detach') continue;
    if (a === '--store') {
      i++;
      continue;
    }
    if (a.startsWith('--store=')) continue;
    out.push(a);
  }
  return out;
}

/**
 * `drover agent <run> <label|call> [--attempt n] [--json]`: one agent's transcript — prompt, turns,
 * tool calls with input and output, answer — as text (JSON: the stored record).
 */
export async function agentCommand(runId: string, ref: string, flags: GlobalFlags & { attempt?: number }): Promise<number> {
  const { store } = openStore(flags, { readOnly: true });
  try {
    const view = await import('../../workflow/transcript-view.js');
    const call = await view.findAgentCall(store, runId, ref);
    const attempts = await view.callTranscripts(store, runId, call.key);
    const rec = flags.attempt !== undefined ? attempts.find((a) => a.attempt === flags.attempt) : attempts[attempts.length - 1];
    if (!rec) {
      if (flags.attempt !== undefined && attempts.length > 0) {
        throw new InputError(`--attempt ${flags.attempt}: the transcript of ${ref} has attempts 1 to ${attempts.length}`);
      }
      throw new view.NoTranscriptError(runId, call);
    }
    if (flags.json) printJson({ ...rec, attempts: attempts.length });
    else process.stdout.write(`${view.formatTranscript(rec, attempts.length).join('\n')}\n`);
    return EXIT.ok;
  } finally {
    await store.close();
  }
}
