import type { IncomingMessage } from 'node:http';
import { createGunzip, createInflate } from 'node:zlib';

export class BodyError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Reads a request body (gzip/deflate accepted) up to `limit` bytes, refusing larger ones. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  let stream: NodeJS.ReadableStream = req;
  if (encoding === 'gzip') stream = req.pipe(createGunzip());
  else if (encoding === 'deflate') stream = req.pipe(createInflate());
  else if (encoding !== 'identity') throw new BodyError(415, `unsupported Content-Encoding: ${encoding}`);
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      size += (chunk as Buffer).length;
      if (size > limit) throw new BodyError(413, `request body larger than ${limit} bytes`);
      parts.push(chunk as Buffer);
    }
  } catch (err) {
    if (err instanceof BodyError) throw err;
    throw new BodyError(400, `could not read request body: ${(err as Error).message}`);
  }
  return Buffer.concat(parts);
}

export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const raw = await readBody(req, limit);
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new BodyError(400, `request body is not valid JSON: ${(err as Error).message}`);
  }
}
