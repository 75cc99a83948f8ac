/**
 * @module What a cassette leaves out: secrets and hop-by-hop headers.
 *
 * - Headers dropped: hop-by-hop ones (RFC 9110 §7.6.1: connection, keep-alive, transfer-encoding, te,
 *   trailer, upgrade, proxy-*), `content-length` (replay's server frames the body itself), and
 *   every header that identifies or authenticates an account: authorization, x-api-key, api-key,
 *   cookie, set-cookie, anthropic-organization-id, openai-organization, openai-project, and any name
 *   containing api-key, secret, password, credential, authorization or cookie.
 * - Every kept header value, the request body and the response body are passed through
 *   src/redact (secretlint's recommended preset, drover's provider-key rules, and the values of secret
 *   environment variables) — byte-preserving everywhere else, so a body without a secret is stored
 *   exactly. A streamed answer (`text/event-stream`) is also scanned with its deltas joined
 *   (src/redact/sse.ts): a key the model repeats arrives in pieces no single event holds. A compressed response body (`content-encoding` gzip, deflate, br, zstd) is stored
 *   decoded, without its `content-encoding`, so that it can be scanned.
 */
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';
import { HOP_BY_HOP_HEADERS } from '../../net/index.js';
import { redactEventStream, redactSecrets } from '../../redact/index.js';

/** Connection headers, and the length of a body that may be stored re-encoded. */
const HOP_BY_HOP = new Set([...HOP_BY_HOP_HEADERS, 'content-length']);
const ACCOUNT = new Set([
  'authorization',
  'x-api-key',
  'api-key',
  'cookie',
  'set-cookie',
  'anthropic-organization-id',
  'openai-organization',
  'openai-project',
]);
const SECRET_NAME = /(api[-_]?key|secret|password|credential|authorization|cookie)/i;

/** Whether a header may be stored in a cassette at all. */
export function keepHeader(name: string): boolean {
  const n = name.toLowerCase();
  return !HOP_BY_HOP.has(n) && !ACCOUNT.has(n) && !SECRET_NAME.test(n);
}

/** The response headers a cassette stores: lower-case names, kept ones only, values redacted. */
export function cassetteHeaders(headers: Record<string, string>, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (keepHeader(name)) out[name.toLowerCase()] = redactSecrets(value, env);
  return out;
}

/**
 * Bytes with every secret replaced by `[REDACTED]`, everything else unchanged. Works on the
 * latin1 view of the bytes (a bijection), so invalid UTF-8 and split characters survive.
 */
export function redactBytes(bytes: Uint8Array, env: NodeJS.ProcessEnv = process.env): Buffer {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = buf.toString('latin1');
  const out = redactSecrets(text, latin1Env(env));
  return out === text ? buf : Buffer.from(out, 'latin1');
}

function latin1Env(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = Buffer.from(v, 'utf8').toString('latin1');
  return out;
}

/** A recorded body chunk. */
export interface TimedChunk {
  t: number;
  bytes: Uint8Array;
}

/**
 * A response body ready for a cassette: decoded when it was compressed (with `content-encoding`
 * dropped from `headers`), then redacted chunk by chunk; when a secret spans two chunks, the
 * body is stored as one redacted chunk.
 */
export function redactBody(
  chunks: TimedChunk[],
  headers: Record<string, string>,
  env: NodeJS.ProcessEnv = process.env,
): { chunks: TimedChunk[]; headers: Record<string, string> } {
  const encoding = (headers['content-encoding'] ?? 'identity').toLowerCase().trim();
  let list = chunks;
  let outHeaders = headers;
  if (encoding !== 'identity' && chunks.length > 0) {
    const whole = Buffer.concat(chunks.map((c) => c.bytes));
    list = [{ t: chunks[chunks.length - 1]?.t ?? 0, bytes: decode(encoding, whole) }];
    outHeaders = { ...headers };
    delete outHeaders['content-encoding'];
  }
  // A streamed answer carries a repeated key in pieces, one per delta event: joined, scanned and cut out
  // before anything else touches it (a piece that looks like a key by itself would otherwise be redacted
  // alone, leaving the rest of the key in the next event).
  if ((outHeaders['content-type'] ?? '').includes('text/event-stream')) {
    const raw = Buffer.concat(list.map((c) => c.bytes));
    const text = raw.toString('utf8');
    if (Buffer.from(text, 'utf8').equals(raw)) {
      const out = redactEventStream(text, env);
      if (out !== text) {
        return { chunks: [{ t: list[list.length - 1]?.t ?? 0, bytes: redactBytes(Buffer.from(out, 'utf8'), env) }], headers: outHeaders };
      }
    }
  }
  const redacted = list.map((c) => ({ t: c.t, bytes: redactBytes(c.bytes, env) }));
  const whole = redactBytes(Buffer.concat(list.map((c) => c.bytes)), env);
  // A secret across a chunk boundary is missed (or only half caught) chunk by chunk: then the
  // whole body, redacted at once, is stored as one chunk.
  if (!whole.equals(Buffer.concat(redacted.map((c) => c.bytes)))) {
    return { chunks: [{ t: list[list.length - 1]?.t ?? 0, bytes: whole }], headers: outHeaders };
  }
  return { chunks: redacted, headers: outHeaders };
}

/** Undoes a `content-encoding` (gzip, x-gzip, deflate, br, zstd, or a comma-separated chain). @throws Error for another coding. */
export function decode(encoding: string, body: Buffer): Buffer {
  const steps = encoding
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s && s !== 'identity')
    .reverse();
  let out = body;
  for (const step of steps) {
    if (step === 'gzip' || step === 'x-gzip') out = gunzipSync(out);
    else if (step === 'deflate') out = inflateSync(out);
    else if (step === 'br') out = brotliDecompressSync(out);
    else if (step === 'zstd') out = Buffer.from(zstdDecompress(out));
    else throw new Error(`cassette: cannot decode content-encoding ${step} to scan it for secrets`);
  }
  return out;
}

/**
 * The request body a cassette stores: the exact bytes, or — when the client compressed them
 * (Codex sends zstd) and they are not JSON as they stand — the decoded bytes, else the parsed
 * body as JSON; so that the stored body can be read and scanned for secrets.
 */
export function requestBodyBytes(rawBody: Buffer, contentEncoding: string | undefined, parsed: unknown): Buffer {
  const encoding = (contentEncoding ?? 'identity').toLowerCase().trim();
  if (encoding === 'identity' || /^\s*[{[]/.test(rawBody.subarray(0, 64).toString('latin1'))) return rawBody;
  try {
    return decode(encoding, rawBody);
  } catch {
    return Buffer.from(JSON.stringify(parsed));
  }
}
