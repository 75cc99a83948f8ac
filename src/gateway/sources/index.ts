export { type CassetteFlags, type ModeSource, runCassetteMode, type SourceOptions, sourceForMode } from './for-mode.js';
