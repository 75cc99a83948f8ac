import { hostname } from 'node:os';
import { envInt, NUMERIC_ENV } from '../config/env.js';
import { newToken, RunLeaseError } from '../core/index.js';
import type { LeaseInfo, Store } from '../store/index.js';

/** A lease's length unless `DROVER_LEASE_TTL_MS` says otherwise (100 to 2147483647 ms). */
export const DEFAULT_LEASE_TTL_MS = NUMERIC_ENV.DROVER_LEASE_TTL_MS.default;

export function isPidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A lease on the same host whose process is gone can be taken at once. */
export function isHolderGone(lease: LeaseInfo): boolean {
  return lease.host === hostname() && !isPidAlive(lease.pid);
}

/**
 * Exclusive right to drive one run. Heartbeats keep it; losing it (another
 * process took it over after we looked dead) calls `onLost` so the run stops.
 */
export class RunLease {
  readonly token: string;
  private timer: NodeJS.Timeout | undefined;
  tookOverFrom: LeaseInfo | null = null;

  constructor(
    private readonly store: Store,
    readonly runId: string,
    private readonly ttlMs = envInt('DROVER_LEASE_TTL_MS'),
    /** A token the caller already holds the run's lease with (a worker's claim); default: a new one. */
    token?: string,
  ) {
    this.token = token ?? newToken();
  }

  async acquire(onLost: () => void): Promise<void> {
    const result = await this.store.acquireRunLease({
      runId: this.runId,
      holder: { token: this.token, pid: process.pid, host: hostname() },
      ttlMs: this.ttlMs,
      now: Date.now(),
      isHolderGone,
    });
    if (!result.acquired) {
      const h = result.heldBy;
      const secs = Math.max(0, Math.round((h.expiresAt - Date.now()) / 1000));
      throw new RunLeaseError(
        `run ${this.runId} is being driven by another process (pid ${h.pid} on ${h.host}, lease for ${secs}s more); wait for it, or stop that process`,
      );
    }
    this.tookOverFrom = result.tookOverFrom;
    this.timer = setInterval(
      () => {
        this.store.renewRunLease(this.runId, this.token, Date.now() + this.ttlMs).then(
          (ok) => {
            if (!ok) {
              this.stopHeartbeat();
              onLost();
            }
          },
          () => {},
        );
      },
      Math.max(50, Math.floor(this.ttlMs / 3)),
    );
    this.timer.unref();
  }

  private stopHeartbeat(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  async release(): Promise<void> {
    this.stopHeartbeat();
    await this.store.releaseRunLease(this.runId, this.token);
  }
}
