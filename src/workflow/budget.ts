/**
 * @module The run's side of caps: which caps apply to its requests, the script's `budget`
 * global read from the ledger, warnings at 50/80/100% of each cap, and the refusals that end
 * the run as `budget_exceeded`.
 */

import type { AgentFailure } from '../agents/index.js';
import { BudgetExceededError, type Cap, type CapScope, capsFor, type DailyCaps, type RunCaps, takeRefusal } from '../budget/index.js';
import type { GatewayRequest } from '../gateway/pipeline/types.js';
import type { Store } from '../store/index.js';

/** Shares of a cap at which a warning is given, once each per cap and execution. */
export const WARN_AT = [0.5, 0.8, 1] as const;

/** Caps whose refusal means the run as a whole cannot go on spending (not one call's or phase's). */
const RUN_WIDE: ReadonlySet<CapScope> = new Set<CapScope>(['run', 'workflow-day', 'store-day']);

/** The caps of a run's requests, for the gateway's reservation stage (`createReservationStage`). */
export function capsResolver(caps: RunCaps | undefined, daily: DailyCaps | undefined): (request: GatewayRequest) => Cap[] {
  return (request) => capsFor(caps, daily, request.attribution, request.receivedAt);
}

export interface RunBudgetOptions {
  store: Store;
  runId: string;
  workflow: string;
  caps: RunCaps | undefined;
  daily: DailyCaps | undefined;
  /** The legacy `--budget-tokens` ceiling (the script's `budget.total` when no token cap is set). */
  budgetTokens: number | undefined;
  /** Output tokens counted outside the ledger (usage rows of backends not behind a gateway yet). */
  legacySpent: () => number;
  /** Says a warning once (run event + log line). */
  warn: (message: string) => void;
  /** Told each warning with the share of the cap reached (0.5, 0.8, 1), for the live tree. */
  onShare?: (message: string, share: number) => void;
}

function share(n: number): string {
  return `${Math.round(n * 100)}%`;
}

/**
 * The script's `budget` and the run's cap bookkeeping. `budget.total` is the run's token cap
 * (output tokens, as Claude Code counts) when one is set, else its USD cap, else null;
 * `spent()` is the ledger's sum for the run in that unit, refreshed after each agent call
 * (the runtime journals each read as a `budget` value, so a replay sees the same numbers).
 */
export class RunBudget {
  private spentUsd = 0;
  private spentTokens = 0;
  private readonly warned = new Set<string>();
  /** The first refusal of a run-wide cap, if any: the run ends `budget_exceeded`. */
  exceeded: BudgetExceededError | undefined;

  constructor(private readonly o: RunBudgetOptions) {}

  get unit(): 'tokens' | 'usd' | null {
    if (this.o.caps?.tokens !== undefined || this.o.budgetTokens !== undefined) return 'tokens';
    return this.o.caps?.usd !== undefined ? 'usd' : null;
  }

  get total(): number | null {
    const u = this.unit;
    if (u === 'tokens') return this.o.caps?.tokens ?? this.o.budgetTokens ?? null;
    return u === 'usd' ? (this.o.caps?.usd ?? null) : null;
  }

  /** Spent so far in `unit` (output tokens when no cap is set), as of the last refresh. */
  spent(): number {
    return this.unit === 'usd' ? this.spentUsd : Math.max(this.spentTokens, this.o.legacySpent());
  }

  /** The caps watched for warnings: the run's own and the daily ones, at `now`. */
  private watched(now: number, phases: Iterable<string>): Cap[] {
    const caps: Cap[] = [];
    const attribution = { runId: this.o.runId, callKey: null, agentLabel: null, phase: null, workflow: this.o.workflow, session: null };
    caps.push(...capsFor(this.o.caps, this.o.daily, attribution, now));
    for (const phase of phases) {
      caps.push(
        ...capsFor({ perPhase: this.o.caps?.perPhase ?? {} }, undefined, { ...attribution, phase }, now).filter((c) => c.scope === 'phase'),
      );
    }
    return caps;
  }

  /** Whether any cap applies to the run: without one, `refresh` after each agent is skipped (spent() counts output tokens). */
  get capped(): boolean {
    const d = this.o.daily;
    return (
      (this.o.caps !== undefined && Object.keys(this.o.caps).length > 0) ||
      (d !== undefined && (d.dailyUsd !== undefined || d.dailyTokens !== undefined || d.workflows?.[this.o.workflow] !== undefined))
    );
  }

  /** Re-reads the ledger and warns for each share (50/80/100%) of each cap crossed since the last read, in order. */
  async refresh(phases: Iterable<string> = []): Promise<void> {
    const now = Date.now();
    const states = await this.o.store.reservations.capStates([{ scope: 'run', key: this.o.runId }, ...this.watched(now, phases)], now);
    const [run, ...watched] = states;
    if (run) {
      this.spentUsd = run.spentUsd;
      this.spentTokens = run.spentTokens;
    }
    for (const s of watched) {
      const parts: [string, number, number][] = [];
      if (s.cap.limitUsd !== undefined) parts.push(['usd', s.spentUsd, s.cap.limitUsd]);
      if (s.cap.limitTokens !== undefined) parts.push(['tokens', s.spentTokens, s.cap.limitTokens]);
      for (const [unit, spent, limit] of parts) {
        // Every share crossed gets its warning, lowest first: one settlement that jumps from 40%
        // to 85% says 50% and 80%, so a consumer waiting for the 50% event still sees it.
        for (const reached of WARN_AT.filter((at) => spent >= at * limit)) {
          const id = `${s.cap.scope}:${s.cap.key}:${unit}:${reached}`;
          if (this.warned.has(id)) continue;
          this.warned.add(id);
          const amount = unit === 'usd' ? `${Number(spent.toFixed(4))} of ${limit} USD` : `${spent} of ${limit} output tokens`;
          const message = `budget: ${share(reached)} of the ${s.cap.scope} cap ${s.cap.key} is spent (${amount})`;
          this.o.warn(message);
          this.o.onShare?.(message, reached);
        }
      }
    }
  }

  /**
   * The cap refusal behind a failed agent call, if it was one: noted in process by the gateway
   * (any backend) or recognized in the backend's error (code `BUDGET_EXCEEDED`). A refusal of a
   * run-wide cap marks the run `budget_exceeded`.
   */
  refusalOf(callKey: string, error: AgentFailure | undefined): BudgetExceededError | undefined {
    const noted = takeRefusal(this.o.runId, callKey);
    // A refusal whose cap is not known (a CLI agent only printed the HTTP error) is taken as the run's.
    const r = error?.refusal;
    const err =
      noted ??
      (error?.code === 'BUDGET_EXCEEDED'
        ? new BudgetExceededError(
            r?.cap ?? { scope: 'run', key: this.o.runId },
            { usd: r?.spentUsd ?? this.spentUsd, tokens: r?.spentTokens ?? this.spentTokens },
            error.message,
          )
        : undefined);
    if (err && RUN_WIDE.has(err.cap.scope)) this.exceeded ??= err;
    return err;
  }
}
