export { traceIdForRun, traceparent } from './traceparent.js';
