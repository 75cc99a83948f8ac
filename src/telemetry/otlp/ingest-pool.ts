import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { OtlpFormatError } from './decode.js';
import type { DecodedBatch } from './ingest.js';

type Reply = ({ id: number } & DecodedBatch) | { id: number; error: string; format: boolean };

/**
 * Decode threads: parsing and checking one batch overlaps with the main thread
 * inserting another, which lifts OTLP ingest past one core's worth. Not available
 * when running from TypeScript sources (no compiled worker file): decoding is then inline.
 */
export class DecodePool {
  private readonly workers: Worker[];
  private readonly pending = new Map<number, { resolve(r: DecodedBatch): void; reject(e: Error): void }>();
  private next = 0;
  private seq = 0;

  static workerFile(): string | null {
    const file = fileURLToPath(new URL('./ingest-worker.js', import.meta.url));
    return existsSync(file) ? file : null;
  }

  constructor(size: number, file: string) {
    this.workers = Array.from({ length: size }, () => {
      const w = new Worker(file);
      w.unref();
      w.on('message', (r: Reply) => {
        const p = this.pending.get(r.id);
        if (!p) return;
        this.pending.delete(r.id);
        if ('error' in r) p.reject(r.format ? new OtlpFormatError(r.error) : new Error(r.error));
        else p.resolve({ rows: r.rows, traceIds: r.traceIds });
      });
      w.on('error', (err) => {
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
      });
      return w;
    });
  }

  decode(raw: Uint8Array, protobuf: boolean): Promise<DecodedBatch> {
    const id = ++this.seq;
    const worker = this.workers[this.next++ % this.workers.length] as Worker;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, raw, protobuf });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
