export { BodyError, readBody, readJsonBody } from './http-body.js';
export { closeServer, listen } from './server.js';
