import type { IncomingMessage } from 'node:http';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';

export class BodyError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Reads a request body up to `limit` bytes, refusing larger ones, and decodes
 * `Content-Encoding` gzip, deflate, br or zstd (Codex sends zstd) with the same
 * limit on the decoded size, so a small compressed bomb is refused too.
 * zstd: Node 20's zlib has none (it arrived in 22.15), so the pure-JS fzstd decoder does it.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
  if (!['identity', 'gzip', 'x-gzip', 'deflate', 'br', 'zstd'].includes(encoding)) {
    throw new BodyError(415, `unsupported Content-Encoding: ${encoding}`);
  }
  const raw = await collect(req, limit);
  try {
    if (encoding === 'identity') return raw;
    if (encoding === 'gzip' || encoding === 'x-gzip') return gunzipSync(raw, { maxOutputLength: limit });
    if (encoding === 'deflate') return inflateSync(raw, { maxOutputLength: limit });
    if (encoding === 'br') return brotliDecompressSync(raw, { maxOutputLength: limit });
    return zstdDecode(raw, limit);
  } catch (err) {
    if (err instanceof BodyError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
      throw new BodyError(413, `decoded request body larger than ${limit} bytes`);
    throw new BodyError(400, `could not decode ${encoding} request body: ${(err as Error).message}`);
  }
}

/**
 * The body's bytes, by events rather than `for await`: an async iterator over a request keeps its
 * cleanup listeners (stream.finished's) until the request closes — at 200 concurrent streams
 * through the gateway, state that survives young-generation GCs and lengthens their pauses.
 * Over `limit`, 413 is thrown and the rest of the body is not kept; the caller answers with
 * `Connection: close`, and the connection closes with a linger (see `lingerOnClose`).
 */
function collect(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    const detach = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        detach();
        lingerOnClose(req);
        reject(new BodyError(413, `request body larger than ${limit} bytes`));
        return;
      }
      parts.push(chunk);
    };
    const onEnd = () => {
      detach();
      resolve(parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, size));
    };
    const onError = (err: Error) => {
      detach();
      reject(new BodyError(400, `could not read request body: ${err.message}`));
    };
    const onClose = () => onError(new Error('the connection closed before the body ended'));
    if (req.readableEnded) return resolve(Buffer.alloc(0));
    // Already gone (its `close` came before anyone listened): nothing more will be emitted.
    if (req.destroyed) return onError(req.errored ?? new Error('the connection closed before the body ended'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/** How long a connection cut short by a 413 goes on reading (and dropping) what the client still sends (ms). */
const LINGER_MS = 2000;

/**
 * A lingering close (RFC 9112 §9.6) for a request whose body will not be read: when the server
 * closes the connection after its answer, it half-closes and goes on reading and dropping for up to
 * LINGER_MS before it lets go. Closing at once, with the client's bytes still unread, makes the
 * kernel reset the connection — and a client still sending loses the 413 that says why.
 * Node's http server closes a `Connection: close` response's socket with `destroySoon()`, so that is
 * what is replaced, on this socket only.
 */
function lingerOnClose(req: IncomingMessage): void {
  const socket = req.socket;
  req.resume();
  socket.destroySoon = () => {
    socket.end();
    socket.resume();
    const cut = setTimeout(() => socket.destroy(), LINGER_MS);
    cut.unref();
    socket.once('close', () => clearTimeout(cut));
  };
}

function zstdDecode(raw: Buffer, limit: number): Buffer {
  const out: Uint8Array[] = [];
  let size = 0;
  const stream = new ZstdDecompress((data) => {
    size += data.length;
    if (size > limit) throw new BodyError(413, `decoded request body larger than ${limit} bytes`);
    out.push(data);
  });
  stream.push(raw, true);
  return Buffer.concat(out);
}

export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const raw = await readBody(req, limit);
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new BodyError(400, `request body is not valid JSON: ${(err as Error).message}`);
  }
}
