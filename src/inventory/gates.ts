/**
 * @module Promotion gates: what a workflow must show before a team records it at a tier
 * (`drover workflows promote`). The gate of a tier is checked whole, so a workflow may skip a tier
 * (personal → internal) only by meeting the higher gate.
 *
 * | tier            | owner | caps | evaluation passing on the last N completed runs | approvals configured |
 * |-----------------|-------|------|--------------------------------------------------|----------------------|
 * | personal        | –     | –    | –                                                | –                    |
 * | team-beta       | yes   | –    | –                                                | –                    |
 * | internal        | yes   | yes  | N = 3                                            | yes                  |
 * | customer-facing | yes   | yes  | N = 5                                            | yes                  |
 */
import { TIERS, type Tier } from '../policy/index.js';

/** What a tier's gate requires. */
export interface TierGate {
  /** The latest run declared `meta.owner`. */
  owner: boolean;
  /** The latest run had a run cap: `settings.caps.usd` or `settings.caps.tokens` (flags or `meta.budget`). */
  caps: boolean;
  /** Completed runs the attached assert spec / golden trace must pass on (newest first); 0: no evaluation needed. */
  evaluationRuns: number;
  /** The effective policy at that tier requires a human's approval of something (a command, agents' results). */
  approvals: boolean;
}

/** drover's gates per tier (see the module header). */
export const TIER_GATES: Readonly<Record<Tier, TierGate>> = {
  personal: { owner: false, caps: false, evaluationRuns: 0, approvals: false },
  'team-beta': { owner: true, caps: false, evaluationRuns: 0, approvals: false },
  internal: { owner: true, caps: true, evaluationRuns: 3, approvals: true },
  'customer-facing': { owner: true, caps: true, evaluationRuns: 5, approvals: true },
};

/** A tier's rank: personal 0 … customer-facing 3; -1 for a string that is no tier. */
export const tierRank = (tier: string): number => (TIERS as readonly string[]).indexOf(tier);

/** The tier above `tier`, or null at the top (customer-facing). */
export function nextTier(tier: Tier): Tier | null {
  return (TIERS[tierRank(tier) + 1] as Tier | undefined) ?? null;
}

/** The name of one gate requirement. */
export type GateItemId = 'owner' | 'caps' | 'evaluation' | 'approvals';

/** One requirement of a gate, met or not, with what was found in words. */
export interface GateItem {
  id: GateItemId;
  ok: boolean;
  /** What was found (met) or what is missing and how to provide it (not met). */
  detail: string;
  /** For `evaluation`: each checked run and whether the spec / golden passed on its trace. */
  runs?: { runId: string; passed: boolean; failures: string[] }[];
}

/** A workflow's gate for one tier: every requirement, and `passed` when all are met. */
export interface GateStatus {
  tier: Tier;
  passed: boolean;
  items: GateItem[];
  /** The items not met (`items` filtered), in the order of `items`. */
  missing: GateItem[];
}
