/**
 * @module The gateway every `drover run` starts in process: a proxy in front of the run's upstream
 * (the sim gateway for `--sim`, `--gateway <url>`, else the providers), so agents of every backend
 * (builtin, claude-code, codex) send their model requests through drover and each request becomes
 * one ledger row in the store, attributed to the run and the agent call.
 */
import { type Gateway, ProxySource, type RunningGateway, startGateway, startSimGateway, storeIdentity } from '../gateway/index.js';
import type { Store } from '../store/index.js';

/**
 * THE SWITCH between the two sources of per-call usage.
 * - false (today): the runtime stores each agent's own usage report (builtin: the provider's usage
 *   of each response; CLI agents: the gateway's rows via `GET /_drover/usage`), and the gateway's
 *   ledger rows are written beside it.
 * - true: the ledger is the only copy: the runtime stores no usage rows of its own, and
 *   `status`, `budget`, traces and reports read the `ledger` table.
 * Flip it once `Store.usageTotals` / `usageByCall` / `listUsage` read the ledger (issue 12,
 * branch `ledger`); until then, reports would show zero.
 */
export const USAGE_FROM_LEDGER = false;

export interface RunGatewayOptions {
  store: Store;
  runId: string;
  /** The workflow's name (`meta.name`): the default `workflow` of the run's ledger rows. */
  workflow: string;
  /** Scenario file for `--sim`: a sim gateway is started as the upstream. */
  sim?: string;
  /** `--gateway <url>`: the upstream for both providers. */
  gateway?: string;
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
  close(): Promise<void>;
}

/**
 * Starts the run's gateway (and, for `--sim`, the sim gateway it proxies to). Agents keep
 * sending their own keys; the in-process gateway adds none from the environment.
 * @throws Error when a port cannot be bound
 */
export async function startRunGateway(options: RunGatewayOptions): Promise<RunGateway> {
  const env = options.env ?? process.env;
  const sim = options.sim ? await startSimGateway({ scenario: options.sim }) : undefined;
  const upstream = sim?.url ?? options.gateway;
  try {
    // TODO(rate limits, cassettes): wrap with `sourceForMode('proxy' | 'record' | 'replay', { upstream, cassettes })`
    // (src/gateway/sources/for-mode.ts) once the runtime's own 429 retries give way to the gateway's.
    const gateway = await startGateway({
      mode: 'proxy',
      source: new ProxySource({
        anthropic: upstream ?? env.ANTHROPIC_BASE_URL ?? 'https://api.anthropic.com',
        openai: upstream ?? env.OPENAI_BASE_URL ?? 'https://api.openai.com',
        env: {},
      }),
      ledger: options.store.ledger,
      storeId: storeIdentity(options.store),
      runId: options.runId,
      workflow: options.workflow,
    });
    return {
      url: gateway.url,
      gateway,
      ...(sim ? { sim } : {}),
      close: async () => {
        await gateway.close();
        await sim?.close();
      },
    };
  } catch (err) {
    await sim?.close();
    throw err;
  }
}
