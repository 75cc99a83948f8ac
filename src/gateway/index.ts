export { closeServer } from '../net/index.js';
export { ATTRIBUTION_HEADERS, attributionHeaders, attributionOf, SESSION_HEADER } from './attribution.js';
export { BUDGET_EXCEEDED_STATUS, wireError } from './errors.js';
export { GATEWAY_HEADER, storeIdentity } from './identity.js';
export type * from './pipeline/types.js';
export { commonPrefixLength } from './prefix-cache.js';
export { attributedBase, routeOf, splitAttributionPrefix } from './routes.js';
export type { Scenario, ScenarioRule, ScenarioTurn } from './scenario.js';
export { loadScenario, parseScenario, ScenarioError } from './scenario.js';
export type { Gateway, GatewayOptions, GatewayStats } from './server.js';
export { startGateway } from './server.js';
export { SimEngine, STRUCTURED_OUTPUT_TOOLS } from './sim-engine.js';
export type { SimRequest, WireName } from './sim-request.js';
export type { RunningGateway, SimGatewayOptions, SimRequestLog, SimStats } from './sim-server.js';
export { startSimGateway } from './sim-server.js';
export {
  DEFAULT_UPSTREAMS,
  type ModeSource,
  ProxySource,
  type ProxySourceOptions,
  runCassetteMode,
  SimSource,
  type SourceSettings,
  sourceFor,
  sourceForMode,
} from './sources/index.js';
export { countTokens, encodeTokens, loadTokenCounter } from './tokens.js';
export { estimateUsage, meterFor, type WireMeter } from './usage/index.js';
