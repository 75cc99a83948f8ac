export type * from './caps-types.js';
export { BudgetExceededError } from './caps-types.js';
export type * from './ledger-types.js';
export { costOf, type ModelPrice, PRICES, priceOf, priceUsage } from './prices.js';
