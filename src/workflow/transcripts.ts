/**
 * @module Agent transcripts for the store: each agent call's prompt, model turns, tool calls (input
 * and output) and answer, as its backend reported them (AgentDetail.transcript), redacted with
 * `redactDeep` and stored only when the run's content capture is on (`traceContent`,
 * DROVER_TRACE_CONTENT=1, config `traceContent`: the setting that puts prompts on spans).
 */
import type { AgentOutcome } from '../agents/index.js';
import { errorMessage, redactDeep } from '../core/index.js';
import type { AgentTranscript, CallRecord, Store } from '../store/index.js';

/**
 * Whether the run captures content (prompts, answers, tool inputs and outputs): the option when
 * given, else DROVER_TRACE_CONTENT (1, true, on). Default off.
 */
export function contentCaptureOn(option: boolean | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  return option ?? ['1', 'true', 'on'].includes((env.DROVER_TRACE_CONTENT ?? '').toLowerCase());
}

/** The transcript of one agent call from what it was asked and what its backend reported (not yet redacted). */
export function buildTranscript(
  backend: string,
  asked: { prompt: string; system?: string | undefined },
  outcome: AgentOutcome,
): AgentTranscript {
  return {
    backend,
    prompt: asked.prompt,
    ...(asked.system !== undefined ? { system: asked.system } : {}),
    turns: outcome.detail?.transcript ?? [],
    answer: outcome.ok ? (outcome.object !== undefined ? JSON.stringify(outcome.object) : outcome.text) : null,
    ...(outcome.ok ? {} : { error: { code: outcome.error.code, message: outcome.error.message } }),
  };
}

/** Stores agent transcripts of one execution of a run, when its content capture is on. */
export class TranscriptRecorder {
  constructor(
    private readonly store: Store,
    private readonly capture: boolean,
    /** Told when a transcript could not be stored (the call itself goes on). */
    private readonly warn: (message: string) => void,
  ) {}

  get on(): boolean {
    return this.capture;
  }

  /** Stores the call's transcript (redacted); a failed write is a warning, never the call's failure. */
  async record(
    call: CallRecord,
    backend: string,
    asked: { prompt: string; system?: string | undefined },
    outcome: AgentOutcome,
  ): Promise<void> {
    if (!this.capture) return;
    try {
      await this.store.transcripts.save({
        runId: call.runId,
        callKey: call.key,
        label: call.label,
        createdAt: Date.now(),
        transcript: redactDeep(buildTranscript(backend, asked, outcome)),
      });
    } catch (err) {
      this.warn(`${call.label ?? 'agent'}: its transcript was not stored: ${errorMessage(err)}`);
    }
  }
}
