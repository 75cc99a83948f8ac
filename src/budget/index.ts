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
