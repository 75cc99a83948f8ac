/**
 * @module The gateway every `drover run` starts in process: a proxy in front of the run's upstream
 * (the sim gateway for `--sim`, `--gateway <url>`, else the providers), so agents of every backend
 * (builtin, claude-code, codex) send their model requests through drover and each request becomes
 * one ledger row in the store, attributed to the run and the agent call.
 */

import type { PriceOverrides } from '../budget/prices.js';
import {
  type Gateway,
  ProxySource,
  type RunningGateway,
  sourceForMode,
  startGateway,
  startSimGateway,
  storeIdentity,
} from '../gateway/index.js';
import type { PolicyStage, ReservationStage } from '../gateway/pipeline/types.js';
import type { LimitSnapshot } from '../gateway/rate-limit/limiter.js';
import type { Store } from '../store/index.js';

/**
 * Per-call usage comes from the ledger only: the runtime stores no usage rows of the agents' own
 * (the gateway writes one row per request), so `status`, `budget`, traces and reports read one copy.
 */
export const USAGE_FROM_LEDGER = true;

export interface RunGatewayOptions {
  store: Store;
  runId: string;
  /** The workflow's name (`meta.name`): the default `workflow` of the run's ledger rows. */
  workflow: string;
  /** Scenario file for `--sim`: a sim gateway is started as the upstream. */
  sim?: string;
  /** `--gateway <url>`: the upstream for both providers. */
  gateway?: string;
  /** `--record` / `--replay`: record the traffic into cassettes, or answer from them (no upstream). */
  cassettes?: { mode: 'record' | 'replay'; dir: string };
  /** Price overrides (drover.config.json `prices`): ledger rows are priced with them, as caps are. */
  prices?: PriceOverrides;
  /** The run's caps: each request's worst case is held before it is forwarded (absent: no caps). */
  reservations?: ReservationStage;
  /** The run's policy stage (run-policy.ts): a refused model is answered 403 before any reservation (absent: all allowed). */
  policy?: PolicyStage;
  /** Environment for the default upstreams (ANTHROPIC_BASE_URL, OPENAI_BASE_URL); default process.env. */
  env?: Record<string, string | undefined>;
}

export interface RunGateway {
  /** Where the run's agents send model requests (root URL; OpenAI clients add /v1). */
  url: string;
  /** The in-process gateway (its rows in memory, for tests and per-call usage). */
  gateway: Gateway;
  /** The sim gateway behind it, for `--sim`. */
  sim?: RunningGateway;
  /** Rate limits per (upstream, model) while the providers are the upstream; empty otherwise. */
  limits(): LimitSnapshot[];
  close(): Promise<void>;
}

/**
 * Starts the run's gateway (and, for `--sim`, the sim gateway it proxies to). Agents keep
 * sending their own keys; the in-process gateway adds none from the environment.
 * Rate limits (429 retries, adaptive concurrency) apply when the upstream is the providers' API:
 * a sim or `--gateway` upstream answers as it is told (a standalone `drover gateway` in front of
 * the providers applies its own), so the runtime's own retries stay visible there.
 * @throws Error when a port cannot be bound; InputError (`NO_CASSETTES`, `BAD_CASSETTE`) for unreadable cassettes
 */
export async function startRunGateway(options: RunGatewayOptions): Promise<RunGateway> {
  const env = options.env ?? process.env;
  const replay = options.cassettes?.mode === 'replay';
  const sim = options.sim && !replay ? await startSimGateway({ scenario: options.sim }) : undefined;
  const upstream = sim?.url ?? options.gateway;
  try {
    const mode = options.cassettes?.mode ?? 'proxy';
    const chosen = sourceForMode(mode, {
      upstream: new ProxySource({
        anthropic: upstream ?? env.ANTHROPIC_BASE_URL ?? 'https://api.anthropic.com',
        openai: upstream ?? env.OPENAI_BASE_URL ?? 'https://api.openai.com',
        env: {},
      }),
      ...(options.cassettes ? { cassettes: options.cassettes.dir } : {}),
      ...(upstream ? { rateLimits: false as const } : {}),
    });
    const gateway = await startGateway({
      mode,
      ...(sim ? { ledgerMode: 'sim' as const } : {}),
      source: chosen.source,
      ledger: options.store.ledger,
      storeId: storeIdentity(options.store),
      runId: options.runId,
      workflow: options.workflow,
      ...(options.reservations ? { reservations: options.reservations } : {}),
      ...(options.prices ? { prices: options.prices } : {}),
      ...(options.policy ? { policy: options.policy } : {}),
    });
    return {
      url: gateway.url,
      gateway,
      ...(sim ? { sim } : {}),
      limits: () => chosen.limits(),
      close: async () => {
        await gateway.close();
        await chosen.flush();
        await sim?.close();
      },
    };
  } catch (err) {
    await sim?.close();
    throw err;
  }
}
