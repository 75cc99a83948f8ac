/**
 * @module `drover gateway --mode sim` as a library: the gateway (server.ts) with the sim source
 * (sources/sim.ts). Anthropic Messages, OpenAI Responses and Chat Completions answered from a
 * scenario, metered like any other mode.
 */
import type { LedgerEntry, LedgerSink } from '../budget/ledger-types.js';
import { loadScenario, type Scenario } from './scenario.js';
import { startGateway } from './server.js';
import { type SimGates, type SimRequestLog, SimSource, type SimStats } from './sources/sim.js';

export type { SimGates, SimRequestLog, SimStats } from './sources/sim.js';

export interface SimGatewayOptions {
  scenario: Scenario | string;
  port?: number;
  host?: string;
  /** Keep each request's flattened text in the log (benchmarks of prompt weight). */
  keepRequests?: boolean;
  /** Where ledger rows go (mode `sim`); without one they are kept in memory only. */
  ledger?: LedgerSink;
  /** Store identity for the `x-drover-gateway` header (see identity.ts); default random. */
  storeId?: string;
}

export interface RunningGateway {
  url: string;
  port: number;
  gates: SimGates;
  stats(): SimStats;
  /** Usage of every answered request tagged with this `x-drover-call`, in order. */
  usageFor(tag: string): SimRequestLog[];
  /** Ledger rows of the requests this gateway answered (in memory, the last 2000). */
  entries(): LedgerEntry[];
  reset(): void;
  close(): Promise<void>;
}

/** `drover gateway --mode sim`: Anthropic Messages, OpenAI Responses and Chat Completions served from a scenario. */
export async function startSimGateway(options: SimGatewayOptions): Promise<RunningGateway> {
  const scenario = typeof options.scenario === 'string' ? loadScenario(options.scenario) : options.scenario;
  const source = new SimSource(scenario, { ...(options.keepRequests ? { keepRequests: true } : {}) });
  const gw = await startGateway({
    mode: 'sim',
    source,
    ...(options.ledger ? { ledger: options.ledger } : {}),
    ...(options.storeId ? { storeId: options.storeId } : {}),
    ...(options.port !== undefined ? { port: options.port } : {}),
    ...(options.host !== undefined ? { host: options.host } : {}),
  });
  return {
    url: gw.url,
    port: gw.port,
    gates: source.gates,
    stats: () => source.getStats(),
    usageFor: (tag) => source.usageFor(tag),
    entries: () => gw.entries(),
    reset: () => source.reset(),
    close: () => gw.close(),
  };
}
