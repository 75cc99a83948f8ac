// OTLP ingest: 4 sender processes post 1,000-span batches (JSON, then protobuf, then protobuf over
// gRPC) to drover's receiver, which stores them in a fresh SQLite span store; spans/s over the whole transfer.
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { createStore } from '../dist/index.js';
import { startOtlpReceiver } from '../dist/telemetry/index.js';
import { tempDir } from './lib.mjs';

const SENDERS = 4;
const BATCHES = Number(process.env.BENCH_OTLP_BATCHES ?? 25);
const SIZE = 1000;

async function ingest(format) {
  const store = createStore(join(tempDir(), 'spans.db'));
  const rx = await startOtlpReceiver({ spans: store.spans, ...(format === 'grpc' ? { grpcPort: 0 } : {}) });
  const kids = Array.from({ length: SENDERS }, () =>
    fork(new URL('./otlp-sender.mjs', import.meta.url), [format === 'grpc' ? rx.grpcUrl : rx.url, format, String(BATCHES), String(SIZE)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  await Promise.all(kids.map((k) => new Promise((r) => k.once('message', r))));
  const done = kids.map((k) => new Promise((r) => k.once('message', r)));
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (const k of kids) k.send('go');
  await Promise.all(done);
  const ms = performance.now() - t0;
  // The receiver's CPU (main thread and decode threads): a view that a busy shared machine skews less than wall time.
  const cpu = process.cpuUsage(cpu0);
  const receiverCpuMs = (cpu.user + cpu.system) / 1000;
  const stored = rx.stats().spans;
  await rx.close();
  const check = (await store.spans.listTraces({ limit: 1_000_000 })).reduce((n, t) => n + t.spans, 0);
  await store.close();
  return {
    spans: stored,
    storedSpans: check,
    ms: Math.round(ms),
    spansPerSec: Math.round(stored / (ms / 1000)),
    receiverCpuMs: Math.round(receiverCpuMs),
    spansPerReceiverCpuSec: Math.round(stored / (receiverCpuMs / 1000)),
  };
}

export async function benchOtlp() {
  const json = await ingest('json');
  const protobuf = await ingest('protobuf');
  const grpc = await ingest('grpc');
  return {
    name: `OTLP ingest into the SQLite span store (${SENDERS} senders × ${BATCHES} batches of ${SIZE} spans)`,
    json,
    protobuf,
    grpc,
    target: '≥ 50,000 spans/s',
    pass:
      json.spansPerSec >= 50_000 &&
      protobuf.spansPerSec >= 50_000 &&
      grpc.spansPerSec >= 50_000 &&
      json.storedSpans === json.spans &&
      grpc.storedSpans === grpc.spans,
  };
}
