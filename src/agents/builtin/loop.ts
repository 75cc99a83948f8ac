import { APIError as AnthropicAPIError } from '@anthropic-ai/sdk';
import { APIError as OpenAIAPIError } from 'openai';
import { isQuotaExhausted, QuotaExhaustedError } from '../../budget/quota.js';
import { isBudgetRefusal } from '../../budget/refusal.js';
import { errorMessage } from '../../core/index.js';
import { SandboxError } from '../../sandbox/index.js';
import { type BackoffPolicy, backoffDelay, isRetryableStatus, sleepUnlessAborted } from '../retry.js';
import { SchemaDefinitionError, toToolInputSchema, validateAgainst } from '../schema.js';
import { TurnLog } from '../turn-log.js';
import type { AgentDetail, AgentFailure, AgentOutcome, AgentRequest, RequestUsage } from '../types.js';
import { CODING_SYSTEM, STRUCTURED_SUFFIX, SUMMARY_REQUEST } from './prompt.js';
import { ToolError, type ToolSpec, Workspace } from './tools/index.js';
import type { Entry, ModelProvider, ModelRequest, ModelTurn, ToolDefinition, ToolResult } from './transcript.js';

export const SUBMIT_RESULT_TOOL = 'submit_result';

export interface LoopSettings {
  provider: ModelProvider;
  /** The URL requests go to, named in every connection failure. */
  endpoint?: string;
  backoff: BackoffPolicy;
  /** Extra answers allowed when a structured result does not match its schema. */
  schemaRetries: number;
  maxTokens: number;
  maxTurns: number;
  /** Compact the conversation when a request's input passes this many tokens. */
  compactAtTokens: number;
  /** Assistant turns (with their tool results) kept verbatim by compaction. */
  keepTurns: number;
  tools: readonly ToolSpec[];
  system?: string;
}

class LoopFailure extends Error {
  constructor(readonly failure: AgentFailure) {
    super(failure.message);
  }
}

const statusOf = (err: unknown): number | undefined =>
  err instanceof AnthropicAPIError || err instanceof OpenAIAPIError ? (err.status as number | undefined) : undefined;
const retryAfterOf = (err: unknown): string | null | undefined =>
  err instanceof AnthropicAPIError
    ? err.headers?.get('retry-after')
    : err instanceof OpenAIAPIError
      ? err.headers?.get('retry-after')
      : undefined;

/**
 * The built-in coding agent: ask the model, run the tools it calls inside the
 * workspace, append the results, repeat until it answers (or submits a result
 * that matches the schema). Every request's usage is kept, failures included.
 */
export async function runAgentLoop(request: AgentRequest, settings: LoopSettings): Promise<AgentOutcome> {
  if (!request.timeoutMs) return runLoop(request, settings, request.signal ?? new AbortController().signal);
  // A timer we hold and clear, not AbortSignal.timeout(): on Node 20 a timeout signal that only
  // AbortSignal.any() refers to can be garbage-collected before it fires, and the agent never times
  // out (seen under memory pressure). AbortSignal.any only with a timeout: per call it costs.
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new Error(`timed out after ${request.timeoutMs} ms`)), request.timeoutMs);
  try {
    return await runLoop(request, settings, request.signal ? AbortSignal.any([request.signal, deadline.signal]) : deadline.signal);
  } finally {
    clearTimeout(timer);
  }
}

async function runLoop(request: AgentRequest, settings: LoopSettings, signal: AbortSignal): Promise<AgentOutcome> {
  const usage: RequestUsage[] = [];
  const log = new TurnLog();
  const detail: AgentDetail = { turns: 0, toolCalls: 0, usageSource: 'provider', compactions: 0, steps: [], transcript: log.turns };
  let attempts = 0;
  const stopped = (): AgentFailure =>
    request.signal?.aborted
      ? { code: 'ABORTED', message: 'agent aborted' }
      : { code: 'TIMEOUT', message: `agent timed out after ${request.timeoutMs} ms` };

  let workspace: Workspace;
  try {
    workspace = new Workspace(request.cwd, request.policy?.checkPath);
  } catch (err) {
    return {
      ok: false,
      error: { code: 'BAD_WORKSPACE', message: `workspace ${request.cwd}: ${errorMessage(err)}` },
      usage,
      attempts,
      detail,
    };
  }
  const allowed = request.tools ? new Set(request.tools) : null;
  const limits = request.policy;
  const tools = settings.tools.filter((t) => (!allowed || allowed.has(t.name)) && (!limits || limits.allowsTool(t.name)));
  const definitions: ToolDefinition[] = tools.map(({ name, description, parameters }) => ({ name, description, parameters }));
  let wrapped = false;
  if (request.schema) {
    try {
      const tool = toToolInputSchema(request.schema);
      wrapped = tool.wrapped;
      validateAgainst(request.schema, null); // compile now: a bad schema fails before any request
      definitions.push({ name: SUBMIT_RESULT_TOOL, description: 'Submit the final result of the task.', parameters: tool.inputSchema });
    } catch (err) {
      if (err instanceof SchemaDefinitionError)
        return { ok: false, error: { code: 'INVALID_SCHEMA', message: err.message }, usage, attempts, detail };
      throw err;
    }
  }
  const system = [request.system ?? settings.system ?? CODING_SYSTEM, ...(request.schema ? [STRUCTURED_SUFFIX] : [])].join('\n');
  const headers: Record<string, string> = {
    'x-drover-agent': 'builtin',
    ...(request.callTag ? { 'x-drover-call': request.callTag } : {}),
    ...request.gatewayHeaders,
  };
  const cacheKey = request.callTag ?? `drover-${Date.now().toString(36)}`;
  let entries: Entry[] = [{ role: 'user', text: request.prompt }];
  let schemaAnswers = 0;
  let lastModel = request.model;

  const send = async (sent: readonly Entry[], withTools: readonly ToolDefinition[]): Promise<ModelTurn> => {
    const model: ModelRequest = {
      model: request.model,
      system,
      tools: withTools,
      entries: sent,
      maxTokens: settings.maxTokens,
      cacheKey,
      headers,
      signal,
      ...(request.effort ? { effort: request.effort } : {}),
    };
    let lastError = '';
    for (let attempt = 1; attempt <= settings.backoff.maxAttempts; attempt++) {
      if (signal.aborted) throw new LoopFailure(stopped());
      attempts++;
      request.onProgress?.({ type: 'request', attempt });
      const startedAt = Date.now();
      try {
        const turn = await settings.provider.send(model);
        turn.usage.startedAt = startedAt;
        turn.usage.endedAt = Date.now();
        usage.push(turn.usage);
        request.onProgress?.({ type: 'usage', usage: turn.usage });
        return turn;
      } catch (err) {
        if (signal.aborted) throw new LoopFailure(stopped());
        const status = statusOf(err);
        // A drover gateway refused the request for a cap: never retried, the call fails with BUDGET_EXCEEDED.
        const refusal = isBudgetRefusal(status, (err as { error?: unknown }).error);
        if (refusal) {
          throw new LoopFailure({
            code: 'BUDGET_EXCEEDED',
            message: refusal.message,
            refusal: { cap: refusal.cap, spentUsd: refusal.spentUsd, spentTokens: refusal.spentTokens },
          });
        }
        // The account's money or quota is gone: never retried; the run stops with the provider's words.
        const body = (err as { error?: unknown }).error;
        if (status !== undefined && isQuotaExhausted(status, body)) {
          const upstream = settings.endpoint ? `${settings.provider.name} at ${settings.endpoint}` : settings.provider.name;
          throw new LoopFailure({ code: 'QUOTA_EXHAUSTED', message: new QuotaExhaustedError(upstream, status, body).message });
        }
        // Every failure names what it tried to reach: "Connection error." alone helps nobody.
        const where = settings.endpoint ? ` (${settings.provider.name} at ${settings.endpoint})` : '';
        lastError = status ? `HTTP ${status}${where}: ${errorMessage(err)}` : `${errorMessage(err)}${where}`;
        if (!isRetryableStatus(status) || attempt === settings.backoff.maxAttempts) {
          throw new LoopFailure({
            code: status ? `HTTP_${status}` : 'CONNECTION',
            message: `${lastError} (after ${attempt} attempt${attempt > 1 ? 's' : ''})`,
          });
        }
        const retryAfter = retryAfterOf(err);
        const wait = backoffDelay(
          settings.backoff,
          attempt,
          retryAfter != null && retryAfter !== '' ? Number(retryAfter) * 1000 : undefined,
        );
        request.onProgress?.({ type: 'retry', attempt, delayMs: wait, reason: lastError });
        try {
          await sleepUnlessAborted(wait, signal);
        } catch {
          throw new LoopFailure(stopped());
        }
      }
    }
    throw new LoopFailure({ code: 'RETRIES_EXHAUSTED', message: lastError });
  };

  try {
    for (;;) {
      if ((detail.turns ?? 0) >= (request.maxTurns ?? settings.maxTurns)) {
        return {
          ok: false,
          error: { code: 'MAX_TURNS', message: `the agent used its ${request.maxTurns ?? settings.maxTurns} turns without finishing` },
          usage,
          attempts,
          detail,
        };
      }
      const turn = await send(entries, definitions);
      detail.turns = (detail.turns ?? 0) + 1;
      lastModel = turn.model;
      if (turn.text) request.onProgress?.({ type: 'text', text: turn.text });
      // Append, never rewrite: earlier turns stay a cacheable prefix.
      entries.push({ role: 'assistant', text: turn.text, calls: turn.calls });
      log.turn({ text: turn.text, model: turn.model, outputTokens: turn.usage.outputTokens });
      for (const c of turn.calls) log.call(c.id, c.name, c.input);
      if (turn.calls.length === 0) {
        if (!request.schema) return { ok: true, text: turn.text, model: turn.model, stopReason: turn.stopReason, usage, attempts, detail };
        schemaAnswers++;
        if (schemaAnswers > settings.schemaRetries) return schemaMismatch(`the agent answered without calling ${SUBMIT_RESULT_TOOL}`);
        entries.push({ role: 'user', text: `Call ${SUBMIT_RESULT_TOOL} with the result now.` });
        continue;
      }
      const results: ToolResult[] = [];
      let submitted: { ok: true; value: unknown } | null = null;
      for (const call of turn.calls) {
        detail.toolCalls = (detail.toolCalls ?? 0) + 1;
        if (call.name === SUBMIT_RESULT_TOOL && request.schema) {
          const value = wrapped ? call.input.value : call.input;
          const problem = validateAgainst(request.schema, value);
          if (problem === null) {
            submitted = { ok: true, value };
            results.push({ callId: call.id, name: call.name, output: 'accepted', isError: false });
            continue;
          }
          schemaAnswers++;
          if (schemaAnswers > settings.schemaRetries) return schemaMismatch(problem);
          results.push({
            callId: call.id,
            name: call.name,
            output: `Your result does not match the required schema: ${problem}. Call ${SUBMIT_RESULT_TOOL} again with a corrected result.`,
            isError: true,
          });
          request.onProgress?.({ type: 'tool', name: call.name, ok: false, summary: problem });
          continue;
        }
        results.push(await runTool(call.name, call.input, call.id));
      }
      for (const r of results) log.result(r.callId, r.output, r.isError);
      if (submitted) {
        return {
          ok: true,
          text: JSON.stringify(submitted.value),
          object: submitted.value,
          model: lastModel,
          stopReason: turn.stopReason,
          usage,
          attempts,
          detail,
        };
      }
      entries.push({ role: 'tool', results });
      const contextTokens =
        turn.usage.inputTokens + turn.usage.cacheReadTokens + turn.usage.cacheWrite5mTokens + turn.usage.cacheWrite1hTokens;
      if (contextTokens + turn.usage.outputTokens > settings.compactAtTokens) entries = await compact(entries);
    }
  } catch (err) {
    if (err instanceof LoopFailure) return { ok: false, error: err.failure, usage, attempts, detail };
    throw err;
  }

  function schemaMismatch(problem: string): AgentOutcome {
    return {
      ok: false,
      error: { code: 'SCHEMA_MISMATCH', message: `structured result invalid after ${schemaAnswers} answers: ${problem}` },
      usage,
      attempts,
      detail,
    };
  }

  async function runTool(name: string, input: Record<string, unknown>, callId: string): Promise<ToolResult> {
    const tool = tools.find((t) => t.name === name);
    const startedAt = Date.now();
    let output: string;
    let isError = false;
    if (!tool) {
      output = `unknown tool "${name}"; available: ${definitions.map((d) => d.name).join(', ')}`;
      isError = true;
    } else if ('__unparsed_arguments' in input) {
      output = `arguments are not valid JSON: ${String(input.__unparsed_arguments).slice(0, 200)}`;
      isError = true;
    } else {
      try {
        output = await tool.run(input, { workspace, signal, ...(request.sandbox ? { sandbox: request.sandbox } : {}) });
      } catch (err) {
        // Fail closed: a sandbox that cannot be made ends the agent with its code, the command unrun.
        if (err instanceof SandboxError) throw new LoopFailure({ code: err.code, message: err.message });
        if (!(err instanceof ToolError) && signal.aborted) throw new LoopFailure(stopped());
        output = err instanceof ToolError ? err.message : `tool failed: ${errorMessage(err)}`;
        isError = true;
      }
    }
    request.onProgress?.({ type: 'tool', name, ok: !isError, summary: output.slice(0, 120) });
    detail.steps?.push({ tool: name, callId, startedAt, endedAt: Date.now(), ok: !isError });
    return { callId, name, output, isError };
  }

  /** Keeps the task, a model-written summary, and the last turns verbatim. */
  async function compact(current: Entry[]): Promise<Entry[]> {
    const assistantAt = current.flatMap((e, i) => (e.role === 'assistant' ? [i] : []));
    if (assistantAt.length <= settings.keepTurns) return current;
    const tailStart = assistantAt[assistantAt.length - settings.keepTurns] as number;
    const transcript = current
      .slice(0, tailStart)
      .map((e) =>
        e.role === 'user'
          ? `USER: ${e.text}`
          : e.role === 'assistant'
            ? `ASSISTANT: ${e.text} ${e.calls.map((c) => `[${c.name} ${JSON.stringify(c.input).slice(0, 300)}]`).join(' ')}`
            : e.results.map((r) => `RESULT ${r.name}: ${r.output.slice(0, 1500)}`).join('\n'),
      )
      .join('\n');
    const summary = await send([{ role: 'user', text: `${SUMMARY_REQUEST}\n\n<transcript>\n${transcript}\n</transcript>` }], []);
    detail.compactions = (detail.compactions ?? 0) + 1;
    return [
      { role: 'user', text: `${request.prompt}\n\n<progress-summary>\n${summary.text}\n</progress-summary>` },
      ...current.slice(tailStart),
    ];
  }
}
