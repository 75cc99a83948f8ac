/**
 * @module The caps a gateway that does not drive the run applies (`drover gateway`): the store's
 * daily caps from config, and — for a request attributed to a run in the store — that run's own
 * caps as `drover run` stored them (flags and `meta.budget`). So a run whose in-process gateway
 * forwards to a `drover gateway` on the same store (which then meters and reserves, one row per
 * request) keeps every cap it was started with.
 */
import type { GatewayRequest } from '../gateway/pipeline/types.js';
import type { Store } from '../store/index.js';
import { capsFor, type DailyCaps, type RunCaps } from './caps.js';
import type { Cap } from './caps-types.js';

/** How long a run's caps are reused before the store is read again (ms): a resume may change them. */
const RUN_CAPS_TTL_MS = 5000;

/**
 * A caps resolver for `createReservationStage`: config daily caps plus the attributed run's
 * stored caps; a request naming no run (or a run the store does not know) gets the daily caps.
 * A request with no `workflow` attribution is counted under its run's workflow name.
 */
export function storedCapsResolver(
  store: Store,
  daily: DailyCaps | undefined,
  now: () => number = Date.now,
): (request: GatewayRequest) => Promise<Cap[]> {
  const runs = new Map<string, { at: number; caps: RunCaps | undefined; workflow: string | null }>();
  const runOf = async (runId: string) => {
    const known = runs.get(runId);
    if (known && now() - known.at < RUN_CAPS_TTL_MS) return known;
    const run = await store.getRun(runId);
    const entry = { at: now(), caps: run?.settings.caps, workflow: run?.name ?? null };
    // A gateway that serves runs for weeks forgets the ones it read long ago (they are read again if asked).
    if (runs.size >= 1000) for (const [id, e] of runs) if (entry.at - e.at >= RUN_CAPS_TTL_MS) runs.delete(id);
    runs.set(runId, entry);
    return entry;
  };
  return async (request) => {
    const { runId } = request.attribution;
    const run = runId ? await runOf(runId) : undefined;
    const attribution =
      request.attribution.workflow || !run?.workflow ? request.attribution : { ...request.attribution, workflow: run.workflow };
    return capsFor(run?.caps, daily, attribution, request.receivedAt);
  };
}
