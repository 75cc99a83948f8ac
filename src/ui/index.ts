/** @module The dashboard (`drover ui`): its server and the read views the page and the JSON API share. */
export { type RunCost, runCost } from './cost.js';
export { callGraph } from './graph.js';
export { answer, type InboxItem, listInbox } from './inbox.js';
export { type DagLayout, layoutDag } from './layout.js';
export {
  type CallDetail,
  type CallTree,
  callDetail,
  callTree,
  listRunsPage,
  type RequestRow,
  type RunRow,
  type RunsPage,
  runRequests,
} from './runs.js';
export { startUiServer, type UiServer, type UiServerOptions } from './server.js';
export { type SpanPage, type SpanRow, spanPage } from './spans.js';
export { type Board, taskBoard } from './tasks.js';
