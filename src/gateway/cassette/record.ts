/**
 * @module Record mode: an AnswerSource that answers through another one (the proxy) and writes one
 * cassette per request once its response has ended.
 */
import { randomBytes } from 'node:crypto';
import { link, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeDirectory } from '../../core/make-dir.js';
import { redactDeep } from '../../core/redact.js';
import type { AnswerSource, GatewayRequest, SourceResponse } from '../pipeline/types.js';
import { CASSETTE_VERSION, type Cassette, type CassetteEnd, storeBytes } from './format.js';
import { keyHash, matchKey } from './match.js';
import { cassetteHeaders, redactBody, redactBytes, requestBodyBytes, type TimedChunk } from './secrets.js';

/** Options of `recordingSource`. */
export interface RecordOptions {
  /** Environment whose secret-named variables' values are redacted (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Called with the path of each cassette written (after the atomic rename). */
  onWrite?: (file: string) => void;
  /** Called when a cassette cannot be written; the client's answer is unaffected. Default: a line on stderr. */
  onError?: (err: unknown) => void;
}

/** A recording AnswerSource. */
export interface RecordingSource extends AnswerSource {
  /**
   * Resolves once every cassette of an ended response is on disk. A client may see the end of a
   * body (its last byte, when the length is known) before its cassette is renamed into place: call
   * this before the process exits or before reading the directory.
   */
  flush(): Promise<void>;
}

/**
 * Record mode: answers every request through `inner` (streaming each chunk on as it arrives) and,
 * when the response body has ended — completely, cut by the upstream, or abandoned by the
 * client — writes one cassette (format.ts) into `dir`, atomically (a temporary file hard-linked
 * to its final name, so a reader never sees half a file and two recorders never overwrite each
 * other). Files are named `<first 16 hex of the key hash>-<n>.json`; `n` counts identical
 * requests from 0 in the order their answers ended, which is the order replay serves them in.
 * `dir` is created when missing (InputError `BAD_DIRECTORY` when it cannot be). When `inner.answer` throws, nothing is written and the error passes on.
 */
export function recordingSource(inner: AnswerSource, dir: string, options: RecordOptions = {}): RecordingSource {
  makeDirectory(dir, 'cassette directory');
  const env = options.env ?? process.env;
  const nextIndex = new Map<string, number>();
  const onError = options.onError ?? ((err: unknown) => process.stderr.write(`drover: cassette not written: ${String(err)}\n`));

  async function write(cassette: Cassette): Promise<string> {
    const prefix = cassette.hash.slice(0, 16);
    const tmp = join(dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}.json`);
    await writeFile(tmp, `${JSON.stringify(cassette, null, 2)}\n`);
    try {
      for (let n = nextIndex.get(prefix) ?? 0; ; n++) {
        const file = join(dir, `${prefix}-${n}.json`);
        try {
          await link(tmp, file);
          nextIndex.set(prefix, n + 1);
          return file;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
      }
    } finally {
      await unlink(tmp).catch(() => {});
    }
  }

  const pending = new Set<Promise<void>>();
  return {
    mode: 'record',
    flush: async () => {
      while (pending.size > 0) await Promise.all(pending);
    },
    async answer(request: GatewayRequest, signal: AbortSignal): Promise<SourceResponse> {
      const start = performance.now();
      const response = await inner.answer(request, signal);
      const headersMs = performance.now() - start;
      const chunks: TimedChunk[] = [];
      const finish = async (end: CassetteEnd) => {
        try {
          const key = matchKey(request);
          const body = redactBody(chunks, response.headers, env);
          const file = await write({
            version: CASSETTE_VERSION,
            key: redactDeep(key, env),
            hash: keyHash(key),
            recordedAt: new Date(request.receivedAt).toISOString(),
            request: {
              method: request.method,
              path: request.path,
              wire: request.wire,
              model: request.model,
              stream: request.stream,
              body: storeBytes(
                redactBytes(requestBodyBytes(request.rawBody, headerValue(request.headers['content-encoding']), request.body), env),
              ),
            },
            response: {
              status: response.status,
              headers: cassetteHeaders(body.headers, env),
              headersMs: round(headersMs),
              chunks: body.chunks.map((c) => ({ t: round(c.t), ...storeBytes(c.bytes) })),
              end,
            },
          });
          options.onWrite?.(file);
        } catch (err) {
          onError(err);
        }
      };
      async function* tee(): AsyncGenerator<Uint8Array> {
        let end: CassetteEnd = 'aborted';
        try {
          for await (const chunk of response.body) {
            chunks.push({ t: performance.now() - start, bytes: Buffer.from(chunk) });
            yield chunk;
          }
          end = 'complete';
        } catch (err) {
          end = signal.aborted ? 'aborted' : 'cut';
          throw err;
        } finally {
          const writing = finish(end);
          pending.add(writing);
          await writing;
          pending.delete(writing);
        }
      }
      return {
        status: response.status,
        headers: response.headers,
        body: tee(),
        ...(response.clientFilter ? { clientFilter: response.clientFilter } : {}),
      };
    },
    ...forwardedMembers(inner),
  };
}

/** The optional members of the inner source (chained-gateway check, close) pass through the wrapper. */
function forwardedMembers(inner: AnswerSource): Pick<AnswerSource, 'sharesLedger' | 'close'> {
  return {
    ...(inner.sharesLedger
      ? { sharesLedger: (r: GatewayRequest, id: string) => inner.sharesLedger?.(r, id) ?? Promise.resolve(false) }
      : {}),
    ...(inner.close ? { close: () => inner.close?.() ?? Promise.resolve() } : {}),
  };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}
