/**
 * @module Which AnswerSource serves each gateway mode. `proxy` and `sim` are here; `record` and
 * `replay` are registered by the cassette sources (src/gateway/cassettes) with `registerSource`.
 */
import type { GatewayMode } from '../../budget/ledger-types.js';
import { InputError } from '../../core/errors.js';
import type { AnswerSource } from '../pipeline/types.js';
import { loadScenario } from '../scenario.js';
import { ProxySource } from './proxy.js';
import { SimSource } from './sim.js';

export { DEFAULT_UPSTREAMS, isPlaceholderKey, ProxySource, type ProxySourceOptions, UsageChunkFilter } from './proxy.js';
export { type SimRequestLog, SimSource, type SimStats } from './sim.js';

/** What `drover gateway` knows when it builds a source (its flags). */
export interface SourceSettings {
  /** `--upstream-anthropic`, `--upstream-openai`: the providers (proxy, record). */
  upstreamAnthropic?: string;
  upstreamOpenai?: string;
  /** `--scenario`: the sim's scenario file. */
  scenario?: string;
  /** `--cassettes`: the record / replay directory (for the cassette sources). */
  cassettes?: string;
}

export type SourceFactory = (settings: SourceSettings) => AnswerSource | Promise<AnswerSource>;

const FACTORIES: Partial<Record<GatewayMode, SourceFactory>> = {
  proxy: (s) =>
    new ProxySource({
      ...(s.upstreamAnthropic ? { anthropic: s.upstreamAnthropic } : {}),
      ...(s.upstreamOpenai ? { openai: s.upstreamOpenai } : {}),
    }),
  sim: (s) => {
    if (!s.scenario) throw new InputError('--scenario <file> is required with --mode sim');
    return new SimSource(loadScenario(s.scenario));
  },
};

/** Adds (or replaces) the source of a mode: the hook the record and replay sources plug into. */
export function registerSource(mode: GatewayMode, factory: SourceFactory): void {
  FACTORIES[mode] = factory;
}

/** The modes with a source. */
export function availableModes(): GatewayMode[] {
  return Object.keys(FACTORIES) as GatewayMode[];
}

/**
 * The AnswerSource of `mode`.
 * @throws InputError (exit 2) for a mode with no source yet, or a missing / bad setting
 */
export async function sourceFor(mode: GatewayMode, settings: SourceSettings): Promise<AnswerSource> {
  // TODO(record/replay): the cassette helper registers its sources here (registerSource('record', ...)).
  const factory = FACTORIES[mode];
  if (!factory) throw new InputError(`--mode: "${mode}" is not available yet (available: ${availableModes().join(', ')})`);
  return factory(settings);
}
