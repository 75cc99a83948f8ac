import { defineConfig } from 'vitest/config';

/**
 * Store conformance: these files run twice, once on SQLite and once with every `tempStore()` on a
 * throwaway PostgreSQL server (DROVER_TEST_STORE=postgres, test/pg-global.ts).
 */
const STORE_CONFORMANCE = [
  'test/store-conformance.test.ts',
  'test/tasks.test.ts',
  'test/ledger-store.test.ts',
  'test/fencing.test.ts',
  'test/retention.test.ts',
  'test/runs-listing.test.ts',
  'test/caps.test.ts',
  'test/control.test.ts',
  'test/inventory.test.ts',
  'test/transcripts.test.ts',
  'test/caps-processes.test.ts',
  'test/ledger-exactness.test.ts',
  'test/run-ledger.test.ts',
  'test/otlp-fidelity.test.ts',
  'test/otlp-guard.test.ts',
  'test/tracing.test.ts',
  'test/span-store.test.ts',
  'test/retention-workflow-store.test.ts',
  'test/worker.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    globalSetup: ['test/pg-global.ts'],
    projects: [
      { extends: true, test: { name: 'sqlite', include: ['test/**/*.test.ts'] } },
      { extends: true, test: { name: 'postgres', include: STORE_CONFORMANCE, env: { DROVER_TEST_STORE: 'postgres' } } },
    ],
  },
});
