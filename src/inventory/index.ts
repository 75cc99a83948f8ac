/**
 * @module The workflow inventory and promotion gates (`drover workflows`, `workflows attach`,
 * `workflows promote`; docs/governance.md "Inventory and promotion"). A script's `meta.tier` is what
 * its runs enforce; the tier recorded here is what a team's gate granted.
 */
export { type GateItem, type GateItemId, type GateStatus, nextTier, TIER_GATES, type TierGate, tierRank } from './gates.js';
export {
  attachEvaluation,
  checkGate,
  inventoryActor,
  type PromotionResult,
  promoteWorkflow,
  type WindowSpend,
  type WorkflowInventoryEntry,
  workflowInventory,
} from './inventory.js';
