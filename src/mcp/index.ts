export type { TaskServerOptions } from './task-tools.js';
export { createTaskServer } from './task-tools.js';
export type { HttpMcp } from './transports.js';
export { serveHttp, serveStdio } from './transports.js';
