import { DroverError } from '../core/errors.js';
import type { Attribution } from './ledger-types.js';

/**
 * Spending caps and reservations. Types only; the reservation engine (src/budget/reservations.ts)
 * keeps them in the store so that every process sharing it sees one set of reservations.
 *
 * Scopes, each with a limit in USD and/or tokens:
 * - `run`: one run (flag `--max-usd`/`--max-tokens`, config, or the script's `meta.budget`);
 * - `phase`: one phase of a run (`meta.budget.perPhase`);
 * - `call`: one agent call (`--max-usd-per-agent`);
 * - `workflow-day`: a workflow's spend per UTC day (config `budget.workflows.<name>.dailyUsd`);
 * - `store-day`: everything in the store per UTC day — a team's budget (config `budget.dailyUsd`).
 */
export type CapScope = 'run' | 'phase' | 'call' | 'workflow-day' | 'store-day';

export interface Cap {
  scope: CapScope;
  /**
   * What the cap counts: the run id (`run`), `<run>/<phase>` (`phase`), `<run>/<callKey>` (`call`),
   * `<workflow>/<YYYY-MM-DD>` (`workflow-day`), `<YYYY-MM-DD>` (`store-day`).
   */
  key: string;
  /** USD limit; absent when the cap counts tokens only. */
  limitUsd?: number;
  /** Token limit (output tokens, as Claude Code's `budget` counts); absent when USD only. */
  limitTokens?: number;
}

/** A request's worst case, held against every cap that applies until the request settles. */
export interface Reservation {
  id: string;
  caps: Cap[];
  /** Counted input tokens × the highest input-side price + max_tokens × output price, USD (null: unpriced model). */
  usd: number | null;
  /** max_tokens of the request: the most output tokens it can produce. */
  tokens: number;
  attribution: Attribution;
  createdAt: number;
}

/** What a cap has used: settled spend (ledger) and held reservations. */
export interface CapState {
  cap: Cap;
  spentUsd: number;
  spentTokens: number;
  reservedUsd: number;
  reservedTokens: number;
}

/**
 * A request refused before it cost anything: even with every in-flight reservation settled it
 * would not fit under `cap`. Code `BUDGET_EXCEEDED`, exit code 1 (the run ends `budget_exceeded`).
 * In scripts, `agent()` rejects with it; `parallel` turns it into null like any failure.
 */
export class BudgetExceededError extends DroverError {
  readonly cap: Cap;
  readonly spentUsd: number;
  readonly spentTokens: number;
  constructor(cap: Cap, spent: { usd: number; tokens: number }, message: string) {
    super('BUDGET_EXCEEDED', message, { exitCode: 1 });
    this.cap = cap;
    this.spentUsd = spent.usd;
    this.spentTokens = spent.tokens;
  }
}
