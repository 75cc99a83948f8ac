export { capsFor, type DailyCaps, mergeRunCaps, parseTokenAmount, parseUsdAmount, type RunCaps, utcDay } from './caps.js';
export type * from './caps-types.js';
export { BudgetExceededError } from './caps-types.js';
export type * from './ledger-types.js';
export { pricesProblem } from './price-check.js';
export {
  type CostBreakdown,
  costBreakdown,
  costOf,
  type ModelPrice,
  PRICE_SOURCES,
  PRICES,
  type PriceOverrides,
  priceOf,
  priceUsage,
  promptTokens,
  providerOfModel,
  type TokenRates,
  worstCaseUsd,
} from './prices.js';
export { isQuotaExhausted, QuotaExhaustedError } from './quota.js';
export {
  BUDGET_REFUSAL_STATUS,
  BUDGET_REFUSAL_TYPE,
  budgetRefusalBody,
  isBudgetRefusal,
  noteRefusal,
  takeRefusal,
} from './refusal.js';
export { type CapReservationStage, createReservationStage, type Hold, ReservationEngine, type ReservationOptions } from './reservations.js';
export { storedCapsResolver } from './stored-caps.js';
export {
  DEFAULT_MAX_OUTPUT_TOKENS,
  inputTokenBound,
  type RequestShape,
  type WorstCase,
  worstCaseOf,
} from './worst-case.js';
