import type { TestProject } from 'vitest/node';
// @ts-expect-error plain JS module shared with bench/
import { startPgServer } from '../scripts/pg-server.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string;
  }
}

/**
 * One throwaway PostgreSQL server for the whole test run (scripts/pg-server.mjs): tests open stores
 * in their own schema of it (test/helpers.ts `tempStore`, `pgStoreUrl`). Without PostgreSQL's server
 * binaries the run fails here, naming what to install — it never silently skips the PostgreSQL tests.
 */
export default async function setup(project: TestProject) {
  const server = (await startPgServer()) as { url: string; stop(): Promise<void> };
  project.provide('pgUrl', server.url);
  return async () => server.stop();
}
