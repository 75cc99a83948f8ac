/**
 * @module Which AnswerSource serves each gateway mode: `sourceFor` builds the proxy and sim sources
 * from `drover gateway`'s flags and hands them to `sourceForMode` (for-mode.ts), which adds rate
 * limits (proxy, record) and the cassettes (record, replay).
 */
import type { GatewayMode } from '../../budget/ledger-types.js';
import { InputError } from '../../core/errors.js';
import { loadScenario } from '../scenario.js';
import { type ModeSource, sourceForMode } from './for-mode.js';
import { ProxySource } from './proxy.js';
import { SimSource } from './sim.js';

export { type CassetteFlags, type ModeSource, runCassetteMode, type SourceOptions, sourceForMode } from './for-mode.js';
export { DEFAULT_UPSTREAMS, isPlaceholderKey, ProxySource, type ProxySourceOptions, UsageChunkFilter } from './proxy.js';
export { type SimRequestLog, SimSource, type SimStats } from './sim.js';

/** What `drover gateway` knows when it builds a source (its flags). */
export interface SourceSettings {
  /** `--upstream-anthropic`, `--upstream-openai`: the providers (proxy, record). */
  upstreamAnthropic?: string;
  upstreamOpenai?: string;
  /** `--scenario`: the sim's scenario file. */
  scenario?: string;
  /** `--cassettes`: the record / replay directory. */
  cassettes?: string;
}

/**
 * The AnswerSource of `mode` from `drover gateway`'s flags.
 * @throws InputError (exit 2) for a missing or bad setting: `--scenario` for sim, `--cassettes` for
 * record and replay, an upstream that is not an http(s) URL, unreadable cassettes
 */
export function sourceFor(mode: GatewayMode, settings: SourceSettings): ModeSource {
  if (mode === 'sim' && !settings.scenario) throw new InputError('--scenario <file> is required with --mode sim');
  if ((mode === 'record' || mode === 'replay') && !settings.cassettes) {
    throw new InputError(`--cassettes <dir> is required with --mode ${mode}`);
  }
  const upstream =
    mode === 'proxy' || mode === 'record'
      ? new ProxySource({
          ...(settings.upstreamAnthropic ? { anthropic: settings.upstreamAnthropic } : {}),
          ...(settings.upstreamOpenai ? { openai: settings.upstreamOpenai } : {}),
        })
      : undefined;
  const sim = mode === 'sim' && settings.scenario ? new SimSource(loadScenario(settings.scenario)) : undefined;
  return sourceForMode(mode, {
    ...(upstream ? { upstream } : {}),
    ...(sim ? { sim } : {}),
    ...(settings.cassettes ? { cassettes: settings.cassettes } : {}),
  });
}
