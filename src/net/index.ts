export { HOP_BY_HOP_HEADERS } from './hop-by-hop.js';
export { BodyError, readBody, readJsonBody } from './http-body.js';
export { originGuard } from './origin.js';
export { closeServer, listen } from './server.js';
export { whenClosed } from './when-closed.js';
