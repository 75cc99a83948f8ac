/**
 * @module Replay mode: an AnswerSource that serves recorded cassettes and never calls a model.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LedgerWire } from '../../budget/ledger-types.js';
import { InputError } from '../../core/errors.js';
import type { AnswerSource, GatewayRequest, SourceResponse } from '../pipeline/types.js';
import { asksNoUsage, UsageChunkFilter } from '../sources/proxy.js';
import { type Cassette, CassetteSchema, loadBytes } from './format.js';
import { describeKey, diffKeys, keyHash, matchKey, withoutToolOutputs } from './match.js';

/** HTTP status of a replay miss. 404: SDKs and CLIs do not retry it, and it names a missing thing. */
export const CASSETTE_MISS_STATUS = 404;

/** Header on every replayed answer: the cassette file served, or `miss`. */
export const CASSETTE_HEADER = 'x-drover-cassette';

/** Header on an answer matched without tool outputs (`tool-outputs-ignored`). */
export const MATCH_HEADER = 'x-drover-cassette-match';

/** Options of `replaySource`. */
export interface ReplayOptions {
  /**
   * `none` (default): serve every answer at once. `recorded`: wait as the recording did — the
   * headers after `headersMs`, each chunk at its `t` (ms since the request arrived).
   */
  timing?: 'none' | 'recorded';
  /**
   * `lenient` (default): a request with no exact match is matched again without what tools
   * answered (see `withoutToolOutputs`), and such an answer carries `x-drover-cassette-match: tool-outputs-ignored`.
   * `exact`: the key alone.
   */
  match?: 'lenient' | 'exact';
  /** Waits `ms` (rejects when `signal` aborts); injectable for tests. Default: a timer. */
  delay?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** A cassette as loaded, with its file. */
export interface LoadedCassette {
  file: string;
  cassette: Cassette;
}

/**
 * Loads every cassette of `dir` (files `*.json`; temporary files of a recorder are skipped) and
 * serves them by the match of match.ts (then, unless `match: 'exact'`, ignoring tool outputs).
 * Identical requests get their recordings in recorded
 * order (`<hash>-0`, `-1`, …); once those are used up, the last one is served again. A request
 * that matches no recording gets HTTP 404 in its wire's error shape (Anthropic `not_found_error`,
 * OpenAI `invalid_request_error` with code `cassette_miss`) whose message names the request
 * (route, model, first words of the last user message, hash) and the closest recording with a
 * short line diff. A recording whose stream was cut (or abandoned by its client) is served up
 * to its last chunk and then fails the same way.
 * @throws InputError (`NO_CASSETTES`) when `dir` is not a directory; (`BAD_CASSETTE`) naming the
 * file and the field when a file is not a valid cassette.
 */
export function replaySource(dir: string, options: ReplayOptions = {}): AnswerSource {
  const byHash = loadCassettes(dir);
  const byLooseHash = new Map<string, LoadedCassette[]>();
  if (options.match !== 'exact') {
    for (const list of byHash.values())
      for (const loaded of list) {
        const loose = `loose:${keyHash(withoutToolOutputs(loaded.cassette.key))}`;
        byLooseHash.set(loose, [...(byLooseHash.get(loose) ?? []), loaded]);
      }
  }
  const served = new Map<string, number>();
  const timing = options.timing ?? 'none';
  const delay = options.delay ?? ((ms: number, signal: AbortSignal) => sleep(ms, undefined, { signal }));

  return {
    mode: 'replay',
    async answer(request: GatewayRequest, signal: AbortSignal): Promise<SourceResponse> {
      const start = performance.now();
      const key = matchKey(request);
      const hash = keyHash(key);
      let group = hash;
      let list = byHash.get(hash);
      if (!list && options.match !== 'exact') {
        group = `loose:${keyHash(withoutToolOutputs(key))}`;
        list = byLooseHash.get(group);
      }
      if (!list || list.length === 0) return miss(dir, byHash, request.wire, key, hash);
      const n = served.get(group) ?? 0;
      served.set(group, n + 1);
      const { file, cassette } = list[Math.min(n, list.length - 1)] as LoadedCassette;
      const how: Record<string, string> = group === hash ? {} : { [MATCH_HEADER]: 'tool-outputs-ignored' };
      const wait = async (atMs: number) => {
        if (timing !== 'recorded') return;
        const left = atMs - (performance.now() - start);
        if (left > 0) await delay(left, signal);
      };
      await wait(cassette.response.headersMs);
      async function* body(): AsyncGenerator<Uint8Array> {
        for (const chunk of cassette.response.chunks) {
          await wait(chunk.t);
          yield loadBytes(chunk);
        }
        if (cassette.response.end !== 'complete') throw new Error(`replay: the recorded stream of ${basename(file)} was cut here`);
      }
      return {
        status: cassette.response.status,
        headers: { ...cassette.response.headers, [CASSETTE_HEADER]: basename(file), ...how },
        body: body(),
        // The cassette holds the usage chunk the proxy asked for; the client gets what it got then.
        ...(asksNoUsage(request) && cassette.response.status === 200 ? { clientFilter: new UsageChunkFilter() } : {}),
      };
    },
  };
}

/** Every cassette of `dir`, grouped by key hash, each group in recorded order. */
export function loadCassettes(dir: string): Map<string, LoadedCassette[]> {
  let names: string[];
  const stat = statSync(dir, { throwIfNoEntry: false });
  if (!stat)
    throw new InputError(`replay: no cassette directory at ${dir} (record one first: --mode record --cassettes ${dir})`, 'NO_CASSETTES');
  if (!stat.isDirectory()) throw new InputError(`replay: ${dir} is a file, not a cassette directory`, 'NO_CASSETTES');
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new InputError(`replay: cassette directory ${dir}: ${(err as Error).message}`, 'NO_CASSETTES');
  }
  const byHash = new Map<string, (LoadedCassette & { n: number })[]>();
  for (const name of names.filter((n) => n.endsWith('.json') && !n.startsWith('.tmp-')).sort()) {
    const file = join(dir, name);
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new InputError(`cassette ${file}: not JSON: ${(err as Error).message}`, 'BAD_CASSETTE');
    }
    const result = CassetteSchema.safeParse(parsed);
    if (!result.success) {
      const issue = result.error.issues[0];
      throw new InputError(`cassette ${file}: ${issue?.path.join('.') || 'file'}: ${issue?.message ?? 'invalid'}`, 'BAD_CASSETTE');
    }
    const n = Number(/-(\d+)\.json$/.exec(name)?.[1] ?? Number.MAX_SAFE_INTEGER);
    const list = byHash.get(result.data.hash) ?? [];
    list.push({ file, cassette: result.data, n });
    byHash.set(result.data.hash, list);
  }
  for (const list of byHash.values()) list.sort((a, b) => a.n - b.n || a.file.localeCompare(b.file));
  return byHash;
}

function miss(
  dir: string,
  byHash: Map<string, LoadedCassette[]>,
  wire: LedgerWire,
  key: Record<string, unknown>,
  hash: string,
): SourceResponse {
  let best: { file: string; cassette: Cassette; distance: number; chars: number; text: string } | null = null;
  for (const list of byHash.values()) {
    const first = list[0];
    if (!first) continue;
    const d = diffKeys(first.cassette.key, key);
    if (!best || d.distance < best.distance || (d.distance === best.distance && d.chars < best.chars)) best = { ...first, ...d };
  }
  const closest = best
    ? `closest recording: ${basename(best.file)} (${describeKey(best.cassette.key, best.cassette.hash)}), differing in ${best.distance} line(s):\n${best.text}`
    : 'the directory holds no recordings';
  const message = `replay: no recording in ${dir} matches ${describeKey(key, hash)}; ${closest}`;
  const text = JSON.stringify(
    wire === 'anthropic'
      ? { type: 'error', error: { type: 'not_found_error', message } }
      : { error: { message, type: 'invalid_request_error', code: 'cassette_miss', param: null } },
  );
  return {
    status: CASSETTE_MISS_STATUS,
    headers: { 'content-type': 'application/json', [CASSETTE_HEADER]: 'miss' },
    body: (async function* () {
      yield Buffer.from(text);
    })(),
  };
}
