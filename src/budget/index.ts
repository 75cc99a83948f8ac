export { costOf, type ModelPrice, PRICES, priceOf } from './prices.js';
