import type { TranscriptRecord } from './transcript-types.js';

/** A `transcripts` row as both stores return it (schema v10), and its record. */
export interface TranscriptRow {
  run_id: string;
  call_key: string;
  attempt: number;
  label: string | null;
  created_at: number;
  transcript_json: string;
}

export const transcriptFromRow = (r: TranscriptRow): TranscriptRecord => ({
  runId: r.run_id,
  callKey: r.call_key,
  attempt: r.attempt,
  label: r.label,
  createdAt: r.created_at,
  transcript: JSON.parse(r.transcript_json),
});
