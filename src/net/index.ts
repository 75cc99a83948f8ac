export { BodyError, readBody, readJsonBody } from './http-body.js';
export { originGuard } from './origin.js';
export { closeServer, listen } from './server.js';
