/**
 * @module The cassette file format (version 1): one JSON file per recorded model request.
 *
 * A cassette holds what replay needs to serve the same answer byte for byte, and nothing secret:
 * ```json
 * {
 *   "version": 1,
 *   "key": { "path": "/v1/messages", "model": "…", "stream": true, "system": …, "messages": […], "tools": […] },
 *   "hash": "<sha256 hex of the canonical key>",
 *   "recordedAt": "2026-11-30T18:00:00.000Z",
 *   "request": { "method": "POST", "path": "/v1/messages", "wire": "anthropic", "model": "…", "stream": true,
 *                "body": { "utf8": "<the exact request body>" } },
 *   "response": { "status": 200, "headers": { "content-type": "text/event-stream", … }, "headersMs": 12,
 *                 "chunks": [{ "t": 15, "utf8": "event: message_start\n…" }, { "t": 31, "b64": "…" }],
 *                 "end": "complete" }
 * }
 * ```
 * - `key` is the normalised request used for matching (see match.ts); `hash` its SHA-256.
 * - `body` and each chunk carry either `utf8` (when the bytes are valid UTF-8) or `b64`.
 * - `t` and `headersMs` are ms since the request reached the recorder.
 * - `end`: `complete` (the body ended), `cut` (the upstream's stream failed mid-way: replay fails
 *   the stream after the last chunk the same way), `aborted` (the client hung up first; replayed as `cut`).
 * - Secrets never appear: see secrets.ts.
 */
import { z } from 'zod';

/** The format version this drover writes and reads. */
export const CASSETTE_VERSION = 1;

/** Bytes as text when they are valid UTF-8, else base64. */
export type StoredBytes = { utf8: string } | { b64: string };

/** One chunk of a response body, `t` ms after the request reached the recorder. */
export type StoredChunk = StoredBytes & { t: number };

/** How a recorded response body ended. */
export type CassetteEnd = 'complete' | 'cut' | 'aborted';

/** One cassette file (see the module comment). */
export interface Cassette {
  version: typeof CASSETTE_VERSION;
  key: Record<string, unknown>;
  hash: string;
  recordedAt: string;
  request: { method: string; path: string; wire: string; model: string; stream: boolean; body: StoredBytes };
  response: { status: number; headers: Record<string, string>; headersMs: number; chunks: StoredChunk[]; end: CassetteEnd };
}

const Bytes = z.union([z.object({ utf8: z.string() }).strict(), z.object({ b64: z.string() }).strict()]);
const Chunk = z.union([
  z.object({ t: z.number().nonnegative(), utf8: z.string() }).strict(),
  z.object({ t: z.number().nonnegative(), b64: z.string() }).strict(),
]);

/** Validates a parsed cassette file (zod). */
export const CassetteSchema = z.object({
  version: z.literal(CASSETTE_VERSION),
  key: z.record(z.string(), z.unknown()),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  recordedAt: z.string(),
  request: z.object({
    method: z.string(),
    path: z.string(),
    wire: z.string(),
    model: z.string(),
    stream: z.boolean(),
    body: Bytes,
  }),
  response: z.object({
    status: z.number().int().min(100).max(599),
    headers: z.record(z.string(), z.string()),
    headersMs: z.number().nonnegative(),
    chunks: z.array(Chunk),
    end: z.enum(['complete', 'cut', 'aborted']),
  }),
}) as z.ZodType<Cassette>;

/** Stores bytes as UTF-8 text when they round-trip, else as base64. */
export function storeBytes(bytes: Uint8Array): StoredBytes {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = buf.toString('utf8');
  return Buffer.from(text, 'utf8').equals(buf) ? { utf8: text } : { b64: buf.toString('base64') };
}

/** The bytes a `StoredBytes` holds. */
export function loadBytes(stored: StoredBytes): Buffer {
  return 'utf8' in stored ? Buffer.from(stored.utf8, 'utf8') : Buffer.from(stored.b64, 'base64');
}
