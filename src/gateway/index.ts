export { closeServer } from '../net/index.js';
export { commonPrefixLength } from './prefix-cache.js';
export type { Scenario, ScenarioRule, ScenarioTurn } from './scenario.js';
export { loadScenario, parseScenario, ScenarioError } from './scenario.js';
export { SimEngine, STRUCTURED_OUTPUT_TOOLS } from './sim-engine.js';
export type { SimRequest, WireName } from './sim-request.js';
export type { RunningGateway, SimGatewayOptions, SimRequestLog, SimStats } from './sim-server.js';
export { startSimGateway } from './sim-server.js';
export { countTokens, encodeTokens, loadTokenCounter } from './tokens.js';
