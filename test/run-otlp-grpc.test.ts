// A run's own OTLP receiver speaks gRPC to children that export with gRPC.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { evaluateSpec, parseSpec } from '../src/assert/index.js';
import { createStore, type StoredSpan } from '../src/store/index.js';
import { traceIdForRun } from '../src/telemetry/index.js';
import { childOtlpEnv, childOtlpProtocol } from '../src/workflow/run-tracing.js';
import { ccScript, cli, lastJson, onCleanup, ROOT, tempDir } from './helpers.js';

const CHILD = join(ROOT, 'test', 'fixtures', 'otel', 'grpc-child.mjs');

describe("a run's receiver and children exporting over gRPC", () => {
  it('with OTEL_EXPORTER_OTLP_PROTOCOL=grpc, a child using the official gRPC exporter lands under its sh span', async () => {
    const dir = tempDir();
    const storePath = join(dir, 's.db');
    const script = ccScript(dir, `phase('Work'); const r = await sh('node ${CHILD}'); return r.stdout.trim();`);
    const r = await cli(['run', script, '--run-id', 'grpc-run', '--json'], {
      env: { DROVER_STORE: storePath, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
    });
    expect(r.code, r.stderr).toBe(0);
    // The child was given the gRPC endpoint as is (no /v1/traces path).
    expect(lastJson(r.stdout).result).toMatch(/^endpoint=http:\/\/127\.0\.0\.1:\d+$/);
    const store = createStore(storePath);
    onCleanup(() => store.close());
    const spans = await store.spans.querySpans({ traceId: traceIdForRun('grpc-run') });
    const child = spans.find((s) => s.name === 'grpc child work') as StoredSpan;
    expect(child).toMatchObject({ service: 'grpc-child', attributes: { 'work.items': 2 } });
    expect(spans.find((s) => s.spanId === child.parentSpanId)?.name).toMatch(/^sh node /);
    const spec = parseSpec('assertions:\n  - expect: { oneRootPerTrace: true, noOrphans: true }\n');
    expect(evaluateSpec(spec, spans).passed).toBe(true);
  });

  it('children get the gRPC endpoint only when the protocol says grpc; HTTP gets the base URL and /v1/traces', () => {
    expect(childOtlpProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toBe('grpc');
    expect(childOtlpProtocol({ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: ' GRPC ', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' })).toBe('grpc');
    expect(childOtlpProtocol({ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toBe('http');
    expect(childOtlpProtocol({})).toBe('http');
    const rx = { url: 'http://127.0.0.1:4318', grpcUrl: 'http://127.0.0.1:4317' };
    expect(childOtlpEnv(rx, 'grpc')).toEqual({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4317',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4317',
    });
    expect(childOtlpEnv(rx, 'http')).toEqual({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces',
    });
  });
});
