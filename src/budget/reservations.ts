/**
 * @module The reservation engine: caps that hold under parallel requests and across processes.
 *
 * Before a request is forwarded, its worst case (src/budget/worst-case.ts) is held against every
 * cap that applies, in one write transaction of the store per attempt. For each cap, with
 * `spent` = the ledger's sum for the cap's scope and `held` = unexpired holds on it:
 * - spent + held + worst ≤ limit → the hold is inserted (all caps at once, or none);
 * - spent + worst ≤ limit → it would fit once in-flight holds settle: wait for a settlement
 *   (in-process notification, and polling with backoff for other processes) and try again;
 * - else → refused with BudgetExceededError naming the cap, its limit and what is spent.
 * Settling deletes the hold; the request's ledger row carries its real cost. As long as each
 * request's real cost is at most its worst case, no cap's spend can pass its limit.
 */
import { randomUUID } from 'node:crypto';
import type { GatewayRequest, HeldBudget, ReservationStage } from '../gateway/pipeline/types.js';
import type { Store } from '../store/index.js';
import { BudgetExceededError, type Cap, type CapState } from './caps-types.js';
import type { Attribution, LedgerEntry } from './ledger-types.js';
import type { PriceOverrides } from './prices.js';
import { noteRefusal } from './refusal.js';
import { type WorstCase, worstCaseOf } from './worst-case.js';

/** Room for float sums of many ledger rows (USD); far below a cent. */
const EPSILON_USD = 1e-9;

export interface ReservationOptions {
  /** How long a hold lives unless its holder renews it (ms, default 60 000); live holds are renewed every ttl/3. */
  ttlMs?: number;
  /** First re-check delay while waiting for other processes' settlements (ms, default 10); doubles up to `maxPollMs`. */
  minPollMs?: number;
  /** Longest delay between re-checks while waiting (ms, default 250). */
  maxPollMs?: number;
  /** Clock, ms since the epoch (tests). */
  now?: () => number;
  /** Called each time a request has to wait for in-flight holds, with the cap it waits on (progress, tests). */
  onWait?: (state: CapState, attribution: Attribution) => void;
}

/** A hold on the caps for one request. */
export interface Hold extends HeldBudget {
  /** A random UUID; '' for a hold against no cap (nothing of it is stored). */
  readonly id: string;
  /** Times the request waited for other holds to settle before it was held. */
  readonly waits: number;
  /** Releases the hold without recording anything (the request was never sent). */
  release(): Promise<void>;
}

type Blocked = { kind: 'wait'; state: CapState; unit: 'usd' | 'tokens' } | { kind: 'refuse'; state: CapState; unit: 'usd' | 'tokens' };

/** Settlement listeners per store location: a settlement in this process wakes its waiters at once. */
const waiters = new Map<string, Set<() => void>>();
function notify(location: string): void {
  for (const wake of waiters.get(location) ?? []) wake();
}

function usd(n: number): string {
  return `${Number(n.toFixed(6))} USD`;
}

/** A cap in words; a per-agent cap names the agent by its label (the call key is not for people). */
function describe(cap: Cap, attribution?: Attribution): string {
  switch (cap.scope) {
    case 'run':
      return `run cap (run ${cap.key})`;
    case 'phase':
      return `phase cap (${cap.key})`;
    case 'call':
      return attribution?.agentLabel
        ? `per-agent cap (agent "${attribution.agentLabel}", call ${cap.key})`
        : `per-agent cap (call ${cap.key})`;
    case 'workflow-day':
      return `workflow daily cap (${cap.key}, UTC day)`;
    case 'store-day':
      return `daily cap of the store (${cap.key}, UTC day)`;
  }
}

/** What a cap's state says about one more hold of `worst`: null when it fits now. */
function judgeCap(s: CapState, worstUsd: number | null, worstTokens: number): Blocked | null {
  let wait: Blocked | null = null;
  if (s.cap.limitUsd !== undefined) {
    const need = worstUsd ?? Number.POSITIVE_INFINITY;
    if (s.spentUsd + need > s.cap.limitUsd + EPSILON_USD) return { kind: 'refuse', state: s, unit: 'usd' };
    if (s.spentUsd + s.reservedUsd + need > s.cap.limitUsd + EPSILON_USD) wait = { kind: 'wait', state: s, unit: 'usd' };
  }
  if (s.cap.limitTokens !== undefined) {
    if (s.spentTokens + worstTokens > s.cap.limitTokens) return { kind: 'refuse', state: s, unit: 'tokens' };
    if (s.spentTokens + s.reservedTokens + worstTokens > s.cap.limitTokens) wait ??= { kind: 'wait', state: s, unit: 'tokens' };
  }
  return wait;
}

function refusal(b: Blocked, worst: WorstCase, attribution: Attribution): BudgetExceededError {
  const { cap, spentUsd, spentTokens } = b.state;
  const message =
    b.unit === 'usd'
      ? `budget exceeded: ${describe(cap, attribution)} is ${usd(cap.limitUsd ?? 0)}; ${usd(spentUsd)} spent, and this ${worst.model} request may cost up to ${usd(worst.usd ?? 0)} (${worst.inputTokens} input + ${worst.outputTokens} output tokens at most)`
      : `budget exceeded: ${describe(cap, attribution)} is ${cap.limitTokens} output tokens; ${spentTokens} spent, and this request may produce up to ${worst.outputTokens} (its max_tokens)`;
  return new BudgetExceededError(cap, { usd: spentUsd, tokens: spentTokens }, message);
}

/**
 * Holds and settles worst cases against caps in a store. One engine per process and store is
 * enough; any number of processes may share the store.
 */
export class ReservationEngine {
  private readonly ttlMs: number;
  private readonly minPollMs: number;
  private readonly maxPollMs: number;
  private readonly now: () => number;
  private readonly onWait: ReservationOptions['onWait'];
  private readonly live = new Set<string>();
  private renewTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Store,
    options: ReservationOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 60_000;
    this.minPollMs = options.minPollMs ?? 10;
    this.maxPollMs = options.maxPollMs ?? 250;
    this.now = options.now ?? Date.now;
    this.onWait = options.onWait;
  }

  /**
   * Holds `worst` against every cap in `caps`, waiting while it would fit only once in-flight
   * holds settle. With no caps, resolves at once with a hold that holds nothing.
   * @throws BudgetExceededError (`BUDGET_EXCEEDED`) when it cannot fit even then, or when the
   *   model is unpriced and a USD cap applies (the message says how to price it)
   * @throws the signal's reason when `signal` aborts while waiting
   */
  async reserve(given: readonly Cap[], worst: WorstCase, attribution: Attribution, signal?: AbortSignal): Promise<Hold> {
    if (given.length === 0) return this.emptyHold();
    const id = randomUUID();
    // One hold per cap: the same cap given twice would be held (and counted) twice.
    const caps = [...new Map(given.map((c) => [`${c.scope}\0${c.key}`, c])).values()];
    const usdCap = caps.find((c) => c.limitUsd !== undefined);
    if (usdCap && worst.usd === null) {
      throw new BudgetExceededError(
        usdCap,
        { usd: 0, tokens: 0 },
        `budget: model "${worst.model}" has no price, so a request to it cannot be held against the ${describe(usdCap, attribution)} of ${usd(usdCap.limitUsd ?? 0)}; price it in drover.config.json ("prices": { "${worst.model}": { "input": <USD per million tokens>, "output": <USD per million tokens> } }) or remove the USD cap`,
      );
    }
    let waits = 0;
    let delay = this.minPollMs;
    for (;;) {
      signal?.throwIfAborted();
      const now = this.now();
      const verdict = await this.store.reservations.holdIf<Blocked>(
        {
          id,
          caps,
          usd: worst.usd,
          tokens: worst.outputTokens,
          runId: attribution.runId,
          callKey: attribution.callKey,
          model: worst.model,
          createdAt: now,
          expiresAt: now + this.ttlMs,
        },
        now,
        (states) => {
          let wait: Blocked | null = null;
          for (const s of states) {
            const b = judgeCap(s, worst.usd, worst.outputTokens);
            if (b?.kind === 'refuse') return { hold: false, why: b };
            wait ??= b;
          }
          return wait ? { hold: false, why: wait } : { hold: true };
        },
      );
      if (verdict.hold) return this.hold(id, waits);
      if (verdict.why.kind === 'refuse') {
        const err = refusal(verdict.why, worst, attribution);
        if (attribution.runId && attribution.callKey) noteRefusal(attribution.runId, attribution.callKey, err);
        throw err;
      }
      waits++;
      this.onWait?.(verdict.why.state, attribution);
      await this.waitForSettlement(delay, signal);
      delay = Math.min(this.maxPollMs, delay * 2);
    }
  }

  /** Sleeps until a settlement in this process, `ms` (with jitter) for other processes', or the abort. */
  private waitForSettlement(ms: number, signal: AbortSignal | undefined): Promise<void> {
    const location = this.store.location;
    return new Promise<void>((resolve, reject) => {
      const set = waiters.get(location) ?? new Set<() => void>();
      waiters.set(location, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0) waiters.delete(location);
        signal?.removeEventListener('abort', onAbort);
      };
      const wake = () => {
        done();
        resolve();
      };
      const onAbort = () => {
        done();
        reject(signal?.reason);
      };
      const timer = setTimeout(wake, ms * (0.5 + Math.random()));
      set.add(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private hold(id: string, waits: number): Hold {
    this.live.add(id);
    this.startRenewing();
    let settled = false;
    const finish = async (write: () => Promise<unknown>) => {
      if (settled) return;
      settled = true;
      this.live.delete(id);
      if (this.live.size === 0) this.stopRenewing();
      await write();
      notify(this.store.location);
    };
    return {
      id,
      waits,
      settle: (entry: LedgerEntry) =>
        finish(() => (entry.id === undefined ? this.store.reservations.releaseAndRecord(id, entry) : this.store.reservations.release(id))),
      release: () => finish(() => this.store.reservations.release(id)),
    };
  }

  /**
   * A hold against no cap: nothing is written to the store for it (a proxy without caps does no
   * reservation I/O per request); settling only records the row when the gateway has not.
   */
  private emptyHold(): Hold {
    let settled = false;
    return {
      id: '',
      waits: 0,
      settle: async (entry: LedgerEntry) => {
        if (settled) return;
        settled = true;
        if (entry.id === undefined) await this.store.ledger.record(entry);
      },
      release: async () => {
        settled = true;
      },
    };
  }

  private startRenewing(): void {
    if (this.renewTimer) return;
    this.renewTimer = setInterval(
      () => {
        const expiresAt = this.now() + this.ttlMs;
        for (const id of this.live) void this.store.reservations.renew(id, expiresAt).catch(() => {});
      },
      Math.max(1, Math.floor(this.ttlMs / 3)),
    );
    this.renewTimer.unref();
  }

  private stopRenewing(): void {
    clearInterval(this.renewTimer);
    this.renewTimer = undefined;
  }

  /** Each cap's spend and holds now. */
  states(caps: readonly Cap[]): Promise<CapState[]> {
    return this.store.reservations.capStates(caps, this.now());
  }
}

/** The reservation stage with its engine (cap states for reports) and releasable holds. */
export interface CapReservationStage extends ReservationStage {
  readonly engine: ReservationEngine;
  reserve(request: GatewayRequest, signal: AbortSignal): Promise<Hold>;
}

/**
 * The gateway's cap-reservation stage. `resolveCaps` says which caps apply to a request (see
 * capsFor in src/budget/caps.ts); the worst case is worstCaseOf(request).
 * `HeldBudget.settle(entry)`: when `entry.id` is set (the gateway recorded the ledger row
 * already) it deletes the hold; else it records the row and deletes the hold in one transaction.
 * Record the row before settling: a hold deleted before its row exists lets a parallel
 * request through on money that is already spent.
 */
export function createReservationStage(
  store: Store,
  resolveCaps: (request: GatewayRequest) => Cap[] | Promise<Cap[]>,
  options: ReservationOptions & { prices?: PriceOverrides } = {},
): CapReservationStage {
  const engine = new ReservationEngine(store, options);
  return {
    engine,
    /** Holds the request's worst case; the Hold can also be released unsettled (`release()`) when nothing was sent. */
    async reserve(request: GatewayRequest, signal: AbortSignal): Promise<Hold> {
      const caps = await resolveCaps(request);
      // No cap applies: nothing to hold, and no need to count the request's tokens.
      const worst =
        caps.length > 0 ? worstCaseOf(request, options.prices) : { model: request.model, inputTokens: 0, outputTokens: 0, usd: 0 };
      return engine.reserve(caps, worst, request.attribution, signal);
    },
  };
}
