import type { TranscriptTurn } from '../../store/index.js';
import type { CliReader } from '../cli/cli-agent.js';
import { TurnLog, toolOutputText } from '../turn-log.js';
import type { AgentFailure, AgentProgress, AgentStep, RequestUsage } from '../types.js';

/**
 * Reads `codex exec --json` lines: item events become progress, the last
 * agent message is the answer, `turn.completed.usage` the CLI's own count
 * (input includes cached tokens), `turn.failed` / `error` the failure.
 */
export class ExecJsonReader implements CliReader {
  threadId: string | undefined;
  finalText = '';
  toolCalls = 0;
  turns = 0;
  failure: string | undefined;
  readonly steps: AgentStep[] = [];
  private readonly started = new Map<string, number>();
  private usage: RequestUsage | undefined;
  /**
   * Codex reports items, not model requests: a transcript turn is the items that were in flight
   * together (parallel tool calls, or one message); an item that starts after another completed
   * (the model answered the result) starts a new turn.
   */
  private readonly log = new TurnLog();
  private afterCompletion = true;

  /** The agent's turns with its tool calls' inputs and outputs. */
  get transcript(): TranscriptTurn[] {
    return this.log.turns;
  }

  /** An item begins: a new turn when the last item event was a completion. */
  private itemBegins(): void {
    if (this.afterCompletion) this.log.turn();
    this.afterCompletion = false;
  }

  constructor(private readonly onProgress?: (p: AgentProgress) => void) {}

  read(line: Record<string, unknown>): void {
    switch (line.type) {
      case 'thread.started':
        if (typeof line.thread_id === 'string') this.threadId = line.thread_id;
        return;
      case 'turn.started':
        this.turns++;
        return;
      case 'item.started': {
        const item = (line.item ?? {}) as Record<string, unknown>;
        if (typeof item.id === 'string') this.started.set(item.id, Date.now());
        if (item.type !== 'reasoning') this.itemBegins();
        return;
      }
      case 'item.completed': {
        const item = (line.item ?? {}) as Record<string, unknown>;
        const tool =
          item.type === 'command_execution'
            ? 'exec_command'
            : item.type === 'file_change'
              ? 'apply_patch'
              : item.type === 'mcp_tool_call'
                ? String(item.tool ?? 'mcp')
                : null;
        if (tool) {
          const id = typeof item.id === 'string' ? item.id : null;
          const now = Date.now();
          this.steps.push({
            tool,
            callId: id,
            startedAt: (id && this.started.get(id)) || now,
            endedAt: now,
            ok: item.status === 'completed' && (item.exit_code === undefined || item.exit_code === 0),
          });
        }
        if (item.type !== 'reasoning') {
          if (!(typeof item.id === 'string' && this.started.has(item.id))) this.itemBegins();
          this.logItem(item);
          this.afterCompletion = true;
        }
        if (item.type === 'agent_message' && typeof item.text === 'string') {
          this.finalText = item.text;
          this.onProgress?.({ type: 'text', text: item.text });
        } else if (item.type === 'command_execution') {
          this.toolCalls++;
          this.onProgress?.({
            type: 'tool',
            name: 'exec_command',
            ok: item.exit_code === 0,
            summary: String(item.command ?? '').slice(0, 120),
          });
        } else if (item.type === 'file_change') {
          this.toolCalls++;
          const changes = (item.changes as { path?: string; kind?: string }[] | undefined) ?? [];
          this.onProgress?.({
            type: 'tool',
            name: 'apply_patch',
            ok: item.status === 'completed',
            summary: changes.map((c) => `${c.kind} ${c.path}`).join(', '),
          });
        } else if (item.type === 'mcp_tool_call') {
          this.toolCalls++;
          this.onProgress?.({ type: 'tool', name: String(item.tool ?? 'mcp'), ok: item.status === 'completed', summary: '' });
        } else if (item.type === 'error' && typeof item.message === 'string') {
          this.onProgress?.({ type: 'text', text: `codex: ${item.message}` });
        }
        return;
      }
      case 'turn.completed': {
        const u = (line.usage ?? {}) as Record<string, number>;
        const cached = u.cached_input_tokens ?? 0;
        this.usage = {
          requestId: this.threadId ? `codex-turn-${this.threadId}-${this.turns}` : null,
          model: '',
          inputTokens: Math.max(0, (u.input_tokens ?? 0) - cached),
          outputTokens: u.output_tokens ?? 0,
          cacheReadTokens: cached,
          cacheWrite5mTokens: u.cache_write_input_tokens ?? 0,
          cacheWrite1hTokens: 0,
          stopReason: null,
        };
        return;
      }
      case 'turn.failed': {
        const error = line.error as { message?: string } | undefined;
        this.failure = error?.message ?? 'turn failed';
        return;
      }
      case 'error':
        if (typeof line.message === 'string' && !this.failure) this.failure = line.message;
        return;
    }
  }

  /** One completed item into the transcript: messages as turn text, commands, patches and MCP calls as tool calls. */
  private logItem(item: Record<string, unknown>): void {
    const id = typeof item.id === 'string' ? item.id : null;
    const failed = item.status !== undefined && item.status !== 'completed';
    if (item.type === 'agent_message' && typeof item.text === 'string') {
      this.log.text(item.text);
    } else if (item.type === 'command_execution') {
      const exit = typeof item.exit_code === 'number' ? item.exit_code : null;
      this.log.call(
        id,
        'exec_command',
        { command: item.command },
        {
          text: `${toolOutputText(item.aggregated_output)}${exit !== null && exit !== 0 ? `\n[exit code ${exit}]` : ''}`,
          isError: failed || (exit !== null && exit !== 0),
        },
      );
    } else if (item.type === 'file_change') {
      this.log.call(id, 'apply_patch', { changes: item.changes ?? [] }, { text: String(item.status ?? ''), isError: failed });
    } else if (item.type === 'mcp_tool_call') {
      const error = item.error as { message?: string } | null | undefined;
      this.log.call(id, `${item.server ? `${String(item.server)}.` : ''}${String(item.tool ?? 'mcp')}`, item.arguments ?? {}, {
        text: error?.message ?? toolOutputText(item.result),
        isError: failed || Boolean(error),
      });
    } else if (item.type === 'web_search') {
      this.log.call(id, 'web_search', { query: item.query }, { text: '', isError: false });
    }
  }

  answer(): { text: string } | { failure: AgentFailure } {
    if (this.failure) return { failure: { code: 'AGENT_ERROR', message: `codex: ${this.failure}` } };
    return { text: this.finalText };
  }

  get sessionId(): string | undefined {
    return this.threadId;
  }

  /** The CLI's summed count for the turn (one record: it does not report per request). */
  reportedUsage(model: string): RequestUsage[] {
    return this.usage ? [{ ...this.usage, model }] : [];
  }
}
