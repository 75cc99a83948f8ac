import { BACKEND_NAMES } from '../../agents/index.js';
import { InputError } from '../../core/errors.js';
import { runWorker, type WorkerEvent } from '../../worker/worker.js';
import { checkCheckout } from '../../worker/workspace.js';
import { checkPoolName } from '../../workflow/run.js';
import { type GlobalFlags, openStore } from '../context.js';
import { EXIT } from '../output.js';

export interface WorkerFlags extends GlobalFlags {
  name?: string;
  pool?: string;
  concurrency?: number;
  runs?: number;
  labels?: string;
  backends?: string;
  checkout?: string;
  leaseTtl?: number;
  poll?: number;
  once?: boolean;
  json?: boolean;
}

const list = (text: string | undefined) =>
  text === undefined
    ? undefined
    : text
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);

function describe(e: WorkerEvent): string {
  switch (e.type) {
    case 'started':
      return `worker ${e.worker} takes runs of pool ${e.pool}`;
    case 'claimed':
      return `${e.runId}: driving${e.tookOverFrom ? ' (taken over from a worker whose lease lapsed)' : ''} in ${e.workdir}`;
    case 'finished':
      return `${e.runId}: ${e.status}`;
    case 'requeued':
      return `${e.runId}: back in the queue (${e.reason})`;
    case 'refused':
      return `${e.runId}: not taken here — ${e.message}`;
    case 'lost':
      return `${e.runId}: lost to another worker — ${e.message}`;
    case 'job-claimed':
      return `${e.runId} ${e.label ?? e.callKey}: running the agent${e.claims > 1 ? ` (claim ${e.claims}: taken over)` : ''}`;
    case 'job-done':
      return `${e.runId} ${e.label ?? e.callKey}: agent done`;
    case 'job-lost':
      return `${e.runId} ${e.label ?? e.callKey}: agent's outcome refused (the job was taken over or cancelled)`;
    case 'job-requeued':
      return `${e.runId} ${e.label ?? e.callKey}: agent job back in the queue`;
    case 'store-error':
      return `store: ${e.message} (retrying)`;
    case 'stopped':
      return `worker ${e.worker} stopped`;
  }
}

/** `drover worker`: runs until SIGINT/SIGTERM (or, with --once, until the queue is empty). */
export async function workerCommand(flags: WorkerFlags): Promise<number> {
  const pool = checkPoolName(flags.pool ?? 'workers', '--pool');
  const labels = list(flags.labels)?.map((l) => checkPoolName(l, '--labels'));
  const backends = list(flags.backends);
  if (backends?.length === 0)
    throw new InputError(`--backends: name at least one backend (available: ${BACKEND_NAMES.join(', ')}), or leave the flag out for any`);
  if (flags.checkout !== undefined) checkCheckout(flags.checkout);
  for (const b of backends ?? []) {
    if (!(BACKEND_NAMES as readonly string[]).includes(b)) {
      throw new InputError(`--backends: "${b}" is not a backend (available: ${BACKEND_NAMES.join(', ')})`);
    }
  }
  const { config, store } = openStore(flags);
  const controller = new AbortController();
  let signals = 0;
  const onSignal = () => {
    // A second Ctrl-C does not wait for the runs to hand back.
    if (++signals > 1) process.exit(EXIT.interrupted);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const report = await runWorker({
      store,
      pool,
      ...(flags.name ? { name: flags.name } : {}),
      ...(flags.concurrency ? { concurrency: flags.concurrency } : {}),
      ...(flags.runs ? { runs: flags.runs } : {}),
      ...(labels ? { labels } : {}),
      ...(backends ? { backends } : {}),
      ...(flags.checkout ? { checkout: flags.checkout } : {}),
      ...(flags.leaseTtl ? { leaseTtlMs: flags.leaseTtl } : {}),
      ...(flags.poll ? { pollMs: flags.poll } : {}),
      ...(flags.once ? { once: true } : {}),
      signal: controller.signal,
      onEvent: (e) => process.stdout.write(flags.json ? `${JSON.stringify(e)}\n` : `${describe(e)}\n`),
      drive: {
        ...(config.budget ? { dailyCaps: config.budget } : {}),
        ...(config.prices && Object.keys(config.prices).length > 0 ? { prices: config.prices } : {}),
      },
    });
    return report.lost.length > 0 ? EXIT.failed : EXIT.ok;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await store.close();
  }
}
