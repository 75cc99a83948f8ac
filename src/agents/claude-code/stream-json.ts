import { anthropicUsage } from '../../budget/provider-usage.js';
import type { TranscriptTurn } from '../../store/index.js';
import type { CliReader } from '../cli/cli-agent.js';
import { TurnLog, toolOutputText } from '../turn-log.js';
import type { AgentFailure, AgentProgress, AgentStep, RequestUsage } from '../types.js';

interface ResultLine {
  isError: boolean;
  subtype: string;
  text: string;
  structured?: unknown;
}

/** An assistant message's usage as the CLI prints it (Anthropic's usage object). */
type Usage = Record<string, unknown>;

/**
 * Reads Claude Code's `--output-format stream-json` lines: progress as they come,
 * the final `result`, and (for when no drover gateway measured them) the usage it
 * reports per message id. Several lines share one message id; the last one wins.
 */
export class StreamJsonReader implements CliReader {
  sessionId: string | undefined;
  model: string | undefined;
  turns = 0;
  toolCalls = 0;
  result: ResultLine | undefined;
  readonly steps: AgentStep[] = [];
  private readonly openTools = new Map<string, AgentStep>();
  private readonly byMessage = new Map<string, { model: string; usage: Usage }>();
  /** The main agent's turns (a subagent's lines, with a parent_tool_use_id, are not in it). */
  private readonly log = new TurnLog();
  private readonly logged = new Set<string>();

  constructor(private readonly onProgress?: (p: AgentProgress) => void) {}

  read(line: Record<string, unknown>): void {
    if (line.type === 'system' && line.subtype === 'init') {
      if (typeof line.session_id === 'string') this.sessionId = line.session_id;
      return;
    }
    if (line.type === 'assistant' && line.message && typeof line.message === 'object') {
      const message = line.message as { id?: string; model?: string; content?: unknown[]; usage?: Usage };
      if (line.parent_tool_use_id == null && message.id && !this.byMessage.has(message.id)) this.turns++;
      if (message.id && message.usage && message.model !== '<synthetic>') {
        this.byMessage.set(message.id, { model: message.model ?? '', usage: message.usage });
      }
      if (message.model && message.model !== '<synthetic>') this.model = message.model;
      const main = line.parent_tool_use_id == null;
      if (main && (!message.id || !this.logged.has(message.id))) {
        if (message.id) this.logged.add(message.id);
        this.log.turn(message.model && message.model !== '<synthetic>' ? { model: message.model } : {});
      }
      for (const block of message.content ?? []) {
        const b = block as { type?: string; name?: string; text?: string; input?: unknown };
        if (main && b.type === 'tool_use') this.log.call((b as { id?: string }).id ?? null, b.name ?? 'tool', b.input);
        if (main && b.type === 'text' && b.text) this.log.text(b.text);
        if (b.type === 'tool_use') {
          this.toolCalls++;
          const id = (b as { id?: string }).id ?? null;
          const step: AgentStep = { tool: b.name ?? 'tool', callId: id, startedAt: Date.now(), endedAt: Date.now(), ok: true };
          this.steps.push(step);
          if (id) this.openTools.set(id, step);
          this.onProgress?.({ type: 'tool', name: b.name ?? 'tool', ok: true, summary: JSON.stringify(b.input ?? {}).slice(0, 120) });
        } else if (b.type === 'text' && b.text) {
          this.onProgress?.({ type: 'text', text: b.text });
        }
      }
      return;
    }
    if (line.type === 'user' && line.message && typeof line.message === 'object') {
      for (const block of ((line.message as { content?: unknown[] }).content ?? []) as {
        type?: string;
        tool_use_id?: string;
        is_error?: boolean;
        content?: unknown;
      }[]) {
        if (block.type === 'tool_result' && block.tool_use_id) {
          this.log.result(block.tool_use_id, toolOutputText(block.content), block.is_error === true);
        }
        const step = block.type === 'tool_result' && block.tool_use_id ? this.openTools.get(block.tool_use_id) : undefined;
        if (step) {
          step.endedAt = Date.now();
          step.ok = block.is_error !== true;
        }
      }
      return;
    }
    if (line.type === 'result') {
      this.result = {
        isError: line.is_error === true,
        subtype: String(line.subtype ?? ''),
        text: typeof line.result === 'string' ? line.result : '',
        ...(line.structured_output !== undefined ? { structured: line.structured_output } : {}),
      };
    }
  }

  /** The main agent's model turns with their tool calls' inputs and outputs. */
  get transcript(): TranscriptTurn[] {
    return this.log.turns;
  }

  answer(): { text: string; object?: unknown; model?: string } | { failure: AgentFailure } {
    const r = this.result;
    if (!r) return { failure: { code: 'CLI_CRASHED', message: 'claude ended without a result line' } };
    if (r.isError)
      return {
        failure: { code: r.subtype === 'error_max_turns' ? 'MAX_TURNS' : 'AGENT_ERROR', message: `claude: ${r.text || r.subtype}` },
      };
    return { text: r.text, ...(r.structured !== undefined ? { object: r.structured } : {}), ...(this.model ? { model: this.model } : {}) };
  }

  /** The CLI's own per-message usage: a fallback, since its output_tokens per line can be a placeholder. */
  reportedUsage(): RequestUsage[] {
    return [...this.byMessage.entries()].map(([id, m]) => {
      // The same mapping as the gateway's meter: 1-hour cache writes are not priced as 5-minute ones.
      const u = anthropicUsage(m.usage);
      return {
        requestId: id,
        model: m.model,
        inputTokens: u.inputTokens ?? 0,
        outputTokens: u.outputTokens ?? 0,
        cacheReadTokens: u.cacheReadTokens ?? 0,
        cacheWrite5mTokens: u.cacheWrite5mTokens ?? 0,
        cacheWrite1hTokens: u.cacheWrite1hTokens ?? 0,
        stopReason: null,
      };
    });
  }
}
