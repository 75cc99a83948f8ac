export * from './canonical.js';
export * from './duration.js';
export * from './errors.js';
export * from './ids.js';
export * from './input-file.js';
export * from './json.js';
// yaml-input.ts (parseYamlInput) is imported from its file: it loads `yaml`, which most commands never need.
export * from './make-dir.js';
export * from './redact.js';
