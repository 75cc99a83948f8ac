/**
 * @module What a run's agents talk through: the run's own gateway (metering, caps, policy) in front
 * of its endpoint, and the local agent backends pointed at it. The driving process and a worker
 * running the run's agent jobs (src/worker) open them the same way.
 */
import type { AgentBackend, BackoffPolicy } from '../agents/index.js';
import { createBackend } from '../agents/index.js';
import { createReservationStage, type DailyCaps } from '../budget/index.js';
import type { PriceOverrides } from '../budget/prices.js';
import type { RunSettings, Store } from '../store/index.js';
import { capsResolver } from './budget.js';
import { RunSetupError } from './errors.js';
import { type RunGateway, startRunGateway } from './run-gateway.js';
import type { RunPolicy } from './run-policy.js';

/** The key agents send to a sim or replaying gateway (nothing checks it). */
export const SIM_API_KEY = 'drover-sim';

/** What opening a run's gateway and backends takes from the caller (DriveOptions' subset). */
export interface RunServiceOptions {
  apiKey?: string;
  backoff?: Partial<BackoffPolicy>;
  cliRetries?: number;
  dailyCaps?: DailyCaps;
  prices?: PriceOverrides;
}

/**
 * Starts the run's gateway on 127.0.0.1: attribution to the run, the workflow's policy stage, and
 * cap reservations against the run's caps and the store's daily caps, in front of the run's sim,
 * cassettes or endpoint.
 */
export function openRunGateway(o: {
  store: Store;
  runId: string;
  workflow: string;
  settings: RunSettings;
  policy: RunPolicy;
  options: RunServiceOptions;
}): Promise<RunGateway> {
  const { settings, options } = o;
  // Daily caps are money: a run answered by its sim or by cassettes spends none.
  const dailyCaps = settings.sim || settings.cassettes?.mode === 'replay' ? undefined : options.dailyCaps;
  return startRunGateway({
    ...(options.prices ? { prices: options.prices } : {}),
    store: o.store,
    runId: o.runId,
    workflow: o.workflow,
    ...(settings.sim ? { sim: settings.sim } : { ...(settings.gateway ? { gateway: settings.gateway } : {}) }),
    ...(settings.cassettes ? { cassettes: settings.cassettes } : {}),
    policy: o.policy.gatewayStage(),
    ...(settings.caps || dailyCaps
      ? {
          reservations: createReservationStage(o.store, capsResolver(settings.caps, dailyCaps), {
            ...(options.prices ? { prices: options.prices } : {}),
          }),
        }
      : {}),
  });
}

/**
 * A backend of this process for agents of backend `name`, sending its model requests to the run's gateway at `gatewayUrl`.
 * @throws RunSetupError (`NO_ENDPOINT`) when the run has no endpoint and no key for it
 */
export function localBackend(name: string, settings: RunSettings, gatewayUrl: string, options: RunServiceOptions): AgentBackend {
  return createBackend(name, {
    gatewayUrl,
    apiKey: settings.sim || settings.cassettes?.mode === 'replay' ? SIM_API_KEY : modelEndpoint(name, settings, options.apiKey).apiKey,
    ...(settings.provider ? { provider: settings.provider } : {}),
    ...(options.backoff ? { backoff: options.backoff } : {}),
    ...(options.cliRetries !== undefined ? { cliRetries: options.cliRetries } : {}),
  });
}

/**
 * Where agents of backend `name` would send model requests when the run has no sim gateway (the
 * run's gateway forwards to it), and with which key. Asked only when an agent needs it: a script of `sh` calls needs no endpoint.
 * @throws RunSetupError (`NO_ENDPOINT`) naming what was looked for
 */
function modelEndpoint(name: string, settings: RunSettings, explicitKey: string | undefined): { gatewayUrl: string; apiKey: string } {
  const openai = name === 'codex' || (settings.provider !== undefined && settings.provider !== 'anthropic');
  const gatewayUrl =
    settings.gateway ??
    (openai
      ? (process.env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1')
      : (process.env.ANTHROPIC_BASE_URL ?? 'https://api.anthropic.com'));
  const apiKey = explicitKey ?? (openai ? process.env.OPENAI_API_KEY : process.env.ANTHROPIC_API_KEY) ?? '';
  if (apiKey) return { gatewayUrl, apiKey };
  if (settings.gateway) return { gatewayUrl, apiKey: SIM_API_KEY };
  throw new RunSetupError(
    'NO_ENDPOINT',
    `no model endpoint for the ${name} agent: pass --gateway <url> or --sim <scenario>, or set ${openai ? 'OPENAI_API_KEY' : 'ANTHROPIC_API_KEY'} (it would call ${gatewayUrl})`,
    { exitCode: 2 },
  );
}
