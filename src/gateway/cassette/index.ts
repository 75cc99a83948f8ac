export type { Cassette, CassetteEnd, StoredBytes, StoredChunk } from './format.js';
export { CASSETTE_VERSION, CassetteSchema } from './format.js';
export { describeKey, diffKeys, keyHash, type MatchInput, matchKey, withoutToolOutputs } from './match.js';
export { type RecordingSource, type RecordOptions, recordingSource } from './record.js';
export {
  CASSETTE_HEADER,
  CASSETTE_MISS_STATUS,
  type LoadedCassette,
  loadCassettes,
  MATCH_HEADER,
  type ReplayOptions,
  replaySource,
} from './replay.js';
export { cassetteHeaders, keepHeader, redactBody, redactBytes } from './secrets.js';
