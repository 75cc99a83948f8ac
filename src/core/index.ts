export * from './canonical.js';
export * from './duration.js';
export * from './errors.js';
export * from './ids.js';
export * from './input-file.js';
export * from './json.js';
export * from './redact.js';
export * from './yaml-input.js';
