export * from './canonical.js';
export * from './duration.js';
export * from './errors.js';
export * from './ids.js';
