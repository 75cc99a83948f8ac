/**
 * @module Agent transcripts (schema v10): what one agent call said and did — its prompt, every model
 * turn, every tool call with its input and output, and its answer — for every backend, redacted
 * before it is stored and stored only when the run's content capture is on (docs/cli.md#agent-transcripts).
 */

/** One tool call inside a model turn. `output` is null when no result came back (the agent was stopped). */
export interface TranscriptToolCall {
  /** The backend's id of the call (tool_use id, call id, item id); null when it has none. */
  id: string | null;
  name: string;
  input: unknown;
  output: string | null;
  isError: boolean;
}

/** One model turn: what the model said and the tools it called in that turn. */
export interface TranscriptTurn {
  /** The model's text in this turn (reasoning summaries excluded); '' when it only called tools. */
  text: string;
  model?: string;
  /** Output tokens of the turn, when the backend reported them per turn. */
  outputTokens?: number;
  toolCalls: TranscriptToolCall[];
}

/** An agent call's transcript as stored. */
export interface AgentTranscript {
  /** `builtin`, `claude-code` or `codex`. */
  backend: string;
  prompt: string;
  /** The system prompt the call gave (`agent(prompt, { system })`); absent when the backend's own was used. */
  system?: string;
  turns: TranscriptTurn[];
  /** The agent's final answer (the structured result as JSON text); null when it failed or was stopped. */
  answer: string | null;
  error?: { code: string; message: string };
}

/** A stored transcript with where it belongs. `attempt` counts executions of the call (1 first, 2 after a resume re-ran it...). */
export interface TranscriptRecord {
  runId: string;
  callKey: string;
  label: string | null;
  attempt: number;
  createdAt: number;
  transcript: AgentTranscript;
}

export interface TranscriptStore {
  /** Stores a transcript (already redacted); a later attempt of the same call is kept beside the earlier ones. */
  save(record: Omit<TranscriptRecord, 'attempt'>): Promise<TranscriptRecord>;
  /** Every attempt of a call's transcript, oldest first. */
  forCall(runId: string, callKey: string): Promise<TranscriptRecord[]>;
  /** Which calls of a run have transcripts (call key → attempts stored). */
  callsWithTranscripts(runId: string): Promise<Map<string, number>>;
}
