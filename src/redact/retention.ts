/**
 * @module Retention per workflow tier: how long a run's content (prompts, outputs, journal inputs and
 * results, span content, logs), the run itself, and the cassettes it recorded are kept. `drover gc`
 * applies it (src/cli/handlers/retention.ts); the ledger's figures outlive all of it.
 *
 * Tiers are the four of issue 14 (`meta.tier`; unclassified = `personal`). A project overrides any
 * number in `drover.config.json`: `{ "retention": { "<tier>": { "contentDays": 7, "runsDays": 30,
 * "cassettesDays": 7 } } }`; `null` keeps forever. Checked by hand like the rest of the config file.
 */

/** The workflow tiers, least governed first. */
export const TIERS = ['personal', 'team-beta', 'internal', 'customer-facing'] as const;
export type Tier = (typeof TIERS)[number];

/** Days (whole, ≥ 0) after a run ends that each kind of data is kept; `null`: kept forever. */
export interface RetentionPolicy {
  /** Journal inputs and results, span prompts/outputs/commands and span events, logs, questions, script copy. */
  contentDays: number | null;
  /** The run entirely (calls, spans, events, questions); its ledger rows stay, without labels. */
  runsDays: number | null;
  /** Cassette files the run recorded (by their recording time). */
  cassettesDays: number | null;
}

/** `retention` of drover.config.json: per tier, any of the three numbers. */
export type RetentionConfig = Partial<Record<Tier, Partial<RetentionPolicy>>>;

/**
 * drover's defaults. Personal tools keep little; team betas a quarter of history; internal products a
 * year of runs and a quarter of content; customer-facing content (which may hold customers' data) the
 * shortest, while the runs' record stays a year for audit.
 */
export const DEFAULT_RETENTION: Readonly<Record<Tier, RetentionPolicy>> = {
  personal: { contentDays: 30, runsDays: 90, cassettesDays: 30 },
  'team-beta': { contentDays: 30, runsDays: 180, cassettesDays: 60 },
  internal: { contentDays: 90, runsDays: 365, cassettesDays: 90 },
  'customer-facing': { contentDays: 14, runsDays: 365, cassettesDays: 14 },
};

const KEYS = ['contentDays', 'runsDays', 'cassettesDays'] as const;

/** The problem with a config `retention` value in words (naming tier and key), or undefined when it is valid. */
export function retentionProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return `expected an object of tier → { ${KEYS.join(', ')} }`;
  for (const [tier, policy] of Object.entries(value)) {
    if (!(TIERS as readonly string[]).includes(tier)) return `${tier}: unknown tier (known: ${TIERS.join(', ')})`;
    if (typeof policy !== 'object' || policy === null || Array.isArray(policy)) return `${tier}: expected an object of ${KEYS.join(', ')}`;
    for (const [key, days] of Object.entries(policy)) {
      if (!(KEYS as readonly string[]).includes(key)) return `${tier}.${key}: unknown key (known: ${KEYS.join(', ')})`;
      if (days !== null && !(Number.isInteger(days) && (days as number) >= 0))
        return `${tier}.${key}: expected a whole number of days ≥ 0, or null (keep forever)`;
    }
    const p = retentionFor(tier as Tier, value as RetentionConfig);
    if (p.contentDays !== null && p.runsDays !== null && p.contentDays > p.runsDays) {
      return `${tier}: contentDays (${p.contentDays}) is longer than runsDays (${p.runsDays}); content goes with its run`;
    }
  }
  return undefined;
}

/** The policy of `tier`: the config's numbers over drover's defaults. */
export function retentionFor(tier: Tier, config: RetentionConfig | undefined): RetentionPolicy {
  return { ...DEFAULT_RETENTION[tier], ...(config?.[tier] ?? {}) };
}

/**
 * A stored run's tier: `meta.tier` as the run stored it (`settings.tier`, or `settings.meta.tier`), else
 * `personal`. A value that is not one of the four tiers is treated as `customer-facing`, the tier that
 * keeps content the shortest (retention errs towards deleting).
 */
export function tierOfRun(settings: unknown): Tier {
  const s = (settings ?? {}) as { tier?: unknown; meta?: { tier?: unknown } };
  const tier = s.tier ?? s.meta?.tier;
  if (tier === undefined || tier === null) return 'personal';
  return (TIERS as readonly unknown[]).includes(tier) ? (tier as Tier) : 'customer-facing';
}

/** Whether data `days` old may no longer be kept under `limitDays` (null: kept forever). */
export function expired(ageMs: number, limitDays: number | null): boolean {
  return limitDays !== null && ageMs > limitDays * 86_400_000;
}
