/**
 * @module Which AnswerSource answers in each gateway mode — wiring for `drover gateway --mode` and
 * `drover run --record/--replay`, kept apart so the server (branch gw-core) only calls `sourceForMode`.
 *
 * TO WIRE AT MERGE: `drover gateway --mode <m> --cassettes <dir>` and `drover run --record <dir>` /
 * `--replay <dir>` build their source with `sourceForMode(mode, { upstream: <proxy source>,
 * sim: <sim source>, cassettes: dir })`; `drover run` reads its mode with `runCassetteMode(flags)`.
 */
import type { GatewayMode } from '../../budget/ledger-types.js';
import { InputError } from '../../core/errors.js';
import { recordingSource } from '../cassette/record.js';
import { type ReplayOptions, replaySource } from '../cassette/replay.js';
import type { AnswerSource } from '../pipeline/types.js';
import type { LimitSnapshot } from '../rate-limit/limiter.js';
import { type RateLimitOptions, withRateLimits } from '../rate-limit/with-rate-limits.js';

/** What `sourceForMode` builds from. */
export interface SourceOptions {
  /** The real upstream (the proxy source): required by `proxy` and `record`. */
  upstream?: AnswerSource;
  /** The scenario source: required by `sim`. */
  sim?: AnswerSource;
  /** The cassette directory: required by `record` (created when missing) and `replay` (must exist). */
  cassettes?: string;
  /** Replay pacing (default `none`). */
  timing?: ReplayOptions['timing'];
  /** Replay matching (default `lenient`). */
  match?: ReplayOptions['match'];
  /** Options of the rate-limit wrapper around the upstream (`proxy`, `record`); `false` leaves it out. */
  rateLimits?: RateLimitOptions | false;
}

/** The source of a mode, with the rate limits' live state when the mode calls an upstream. */
export interface ModeSource {
  source: AnswerSource;
  /** Limits per (upstream, model) for the live tree; empty in `replay` and `sim`. */
  limits(): LimitSnapshot[];
  /** Resolves once every cassette being written is on disk (`record`); call before exiting. */
  flush(): Promise<void>;
}

/**
 * - `proxy`: the upstream behind `withRateLimits` (429s retried, AIMD concurrency).
 * - `record`: the same, recorded: `recordingSource(withRateLimits(upstream), cassettes)` — the
 *   cassette holds what the client got, never a 429 that was retried away.
 * - `replay`: `replaySource(cassettes)`: no upstream, no key.
 * - `sim`: the sim source as it is.
 * @throws InputError (`INVALID_INPUT`) naming the missing option (e.g. `--cassettes <dir>`); InputError
 * from `replaySource` (`NO_CASSETTES`, `BAD_CASSETTE`) when the cassettes cannot be read.
 */
export function sourceForMode(mode: GatewayMode, options: SourceOptions): ModeSource {
  const none = () => [];
  const flushed = async () => {};
  const limited = (): ModeSource => {
    if (!options.upstream) throw new InputError(`gateway mode ${mode} needs an upstream`);
    if (options.rateLimits === false) return { source: options.upstream, limits: none, flush: flushed };
    const source = withRateLimits(options.upstream, options.rateLimits ?? {});
    return { source, limits: () => source.snapshot(), flush: flushed };
  };
  const cassettes = (): string => {
    if (!options.cassettes) throw new InputError(`gateway mode ${mode} needs --cassettes <dir>`);
    return options.cassettes;
  };
  switch (mode) {
    case 'proxy':
      return limited();
    case 'record': {
      const dir = cassettes();
      const inner = limited();
      const source = recordingSource(inner.source, dir);
      return { source, limits: inner.limits, flush: () => source.flush() };
    }
    case 'replay':
      return {
        source: replaySource(cassettes(), { timing: options.timing ?? 'none', match: options.match ?? 'lenient' }),
        limits: none,
        flush: flushed,
      };
    case 'sim':
      if (!options.sim) throw new InputError('gateway mode sim needs a scenario');
      return { source: options.sim, limits: none, flush: flushed };
  }
}

/** `drover run`'s cassette flags. */
export interface CassetteFlags {
  record?: string;
  replay?: string;
  sim?: string;
  gateway?: string;
}

/**
 * The gateway mode `drover run` asks for: `record` with `--record <dir>` (through the real API,
 * `--gateway` or `--sim`), `replay` with `--replay <dir>` (nothing else is called, so it excludes
 * `--sim` and `--gateway`), else null (the run's default).
 * @throws InputError (`INVALID_INPUT`, exit 2) when the flags contradict each other.
 */
export function runCassetteMode(flags: CassetteFlags): { mode: 'record' | 'replay'; cassettes: string } | null {
  if (flags.record !== undefined && flags.replay !== undefined) throw new InputError('--record and --replay cannot be used together');
  if (flags.replay !== undefined) {
    const other = flags.sim !== undefined ? '--sim' : flags.gateway !== undefined ? '--gateway' : null;
    if (other) throw new InputError(`--replay serves recorded answers and calls no model: it cannot be used with ${other}`);
    if (!flags.replay) throw new InputError('--replay needs a cassette directory');
    return { mode: 'replay', cassettes: flags.replay };
  }
  if (flags.record !== undefined) {
    if (!flags.record) throw new InputError('--record needs a cassette directory');
    return { mode: 'record', cassettes: flags.record };
  }
  return null;
}
