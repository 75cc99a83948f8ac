/**
 * @module Reading agent transcripts back: `drover agent <run> <label|call>` and the dashboard's
 * agent drill-down. A call is named by its journal key or its label; the text form prints the
 * prompt, each turn with its tool calls (input, then output) and the answer, as plain text.
 */
import { DroverError, NotFoundError } from '../core/index.js';
import type { CallRecord, Store, TranscriptRecord } from '../store/index.js';

/** The run has no transcript for the call: none was captured. Code `NO_TRANSCRIPT`, exit 2. */
export class NoTranscriptError extends DroverError {
  constructor(runId: string, call: CallRecord) {
    super(
      'NO_TRANSCRIPT',
      `no transcript of ${call.label ?? call.key} in run ${runId}: transcripts are kept only while content capture is on (DROVER_TRACE_CONTENT=1, or "traceContent": true in drover.config.json) when the agent runs${call.status === 'started' ? '; the agent has not finished' : ''}`,
      { exitCode: 2 },
    );
  }
}

/**
 * The agent call of run `runId` that `ref` names: its key, else its label (when several calls share
 * the label, the ref is refused naming their keys).
 * @throws NotFoundError (`NOT_FOUND`, exit 2) for an unknown run or call; DroverError `AMBIGUOUS_CALL` (exit 2)
 */
export async function findAgentCall(store: Store, runId: string, ref: string): Promise<CallRecord> {
  if (!(await store.getRun(runId))) throw new NotFoundError(`run ${runId}`);
  const agents = (await store.listCalls(runId)).filter((c) => c.kind === 'agent');
  const byKey = agents.find((c) => c.key === ref);
  if (byKey) return byKey;
  const byLabel = agents.filter((c) => c.label === ref);
  if (byLabel.length === 1) return byLabel[0] as CallRecord;
  if (byLabel.length > 1) {
    throw new DroverError(
      'AMBIGUOUS_CALL',
      `${byLabel.length} agents of run ${runId} are labelled "${ref}": name one by its key (${byLabel.map((c) => c.key).join(', ')})`,
      { exitCode: 2 },
    );
  }
  const labels = agents.map((c) => c.label ?? c.key).slice(0, 10);
  throw new NotFoundError(`agent "${ref}" in run ${runId} (its agents: ${labels.join(', ') || 'none'}${agents.length > 10 ? ', …' : ''})`);
}

/** Every stored attempt of the call's transcript, oldest first (empty when none was captured). */
export async function callTranscripts(store: Store, runId: string, callKey: string): Promise<TranscriptRecord[]> {
  return store.transcripts.forCall(runId, callKey);
}

const indent = (text: string, pad: string) =>
  text
    .split('\n')
    .map((l) => `${pad}${l}`)
    .join('\n');

/** A transcript as plain text lines (no colour, no markup): prompt, turns with tool calls, answer. */
export function formatTranscript(rec: TranscriptRecord, attempts = 1): string[] {
  const t = rec.transcript;
  const out: string[] = [
    `agent ${rec.label ?? rec.callKey} · ${t.backend} · ${rec.callKey}${attempts > 1 ? ` · attempt ${rec.attempt} of ${attempts}` : ''}`,
  ];
  if (t.system !== undefined) out.push('── system', indent(t.system, '  '));
  out.push('── prompt', indent(t.prompt, '  '));
  t.turns.forEach((turn, i) => {
    const facts = [turn.model, turn.outputTokens !== undefined ? `${turn.outputTokens} output tokens` : undefined].filter(Boolean);
    out.push(`── turn ${i + 1}${facts.length ? ` (${facts.join(', ')})` : ''}`);
    if (turn.text) out.push(indent(turn.text, '  '));
    for (const call of turn.toolCalls) {
      out.push(`  → ${call.name} ${JSON.stringify(call.input)}`);
      if (call.output === null) out.push('    ← (no result: the agent was stopped)');
      else
        out.push(
          `    ← ${call.isError ? 'error: ' : ''}${call.output.includes('\n') ? '' : call.output}`,
          ...(call.output.includes('\n') ? [indent(call.output, '      ')] : []),
        );
    }
  });
  if (t.error) out.push('── error', `  ${t.error.code}: ${t.error.message}`);
  else out.push('── answer', indent(t.answer ?? '', '  '));
  return out;
}
