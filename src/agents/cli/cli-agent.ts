import { SandboxError, sandboxAgentCommand, type WrappedAgent } from '../../sandbox/index.js';
import type { TranscriptTurn } from '../../store/index.js';
import { SchemaDefinitionError, validateAgainst } from '../schema.js';
import type { AgentDetail, AgentFailure, AgentOutcome, AgentRequest, AgentStep, RequestUsage } from '../types.js';
import { gatewayUsage } from './gateway-usage.js';
import { type CliExit, runJsonLines } from './json-lines.js';
import { locateCli } from './locate.js';
import { exitFailure, finalOutcome, tail } from './outcome.js';

/** What a CLI backend learns from the JSON lines its process writes. */
export interface CliReader {
  read(line: Record<string, unknown>): void;
  readonly sessionId: string | undefined;
  readonly turns: number;
  readonly toolCalls: number;
  readonly steps?: AgentStep[];
  /** Model turns with tool inputs and outputs, for the call's transcript. */
  readonly transcript?: TranscriptTurn[];
  /** The CLI's own usage report: the fallback when no drover gateway measured the requests. */
  reportedUsage(model: string): RequestUsage[];
  /** After a clean exit: the answer, or why there is none. */
  answer(): { text: string; object?: unknown; model?: string } | { failure: AgentFailure };
}

export interface CliInvocation {
  /** `claude`, `codex`: the executable's name and the word in messages. */
  cli: string;
  binaryOverride: string | undefined;
  installHint: string;
  gatewayUrl: string | undefined;
  /** Builds argv and env once the binary is known; `dispose` runs after the process ends. */
  prepare(binary: string): { args: string[]; env: NodeJS.ProcessEnv; dispose(): void };
  reader: CliReader;
}

/**
 * The shared life of a CLI agent call: check the schema, find the binary, run it
 * reading JSON lines, take usage from the gateway (else the CLI's report), and turn
 * every way it can end into a recorded outcome.
 */
export async function runCliAgent(request: AgentRequest, inv: CliInvocation): Promise<AgentOutcome> {
  if (request.schema) {
    try {
      validateAgainst(request.schema, null);
    } catch (err) {
      if (err instanceof SchemaDefinitionError)
        return { ok: false, error: { code: 'INVALID_SCHEMA', message: err.message }, usage: [], attempts: 0 };
      throw err;
    }
  }
  const binary = locateCli(inv.cli, { override: inv.binaryOverride, cwd: request.cwd });
  if (!binary) {
    const where = inv.binaryOverride ? `${inv.binaryOverride} is not an executable` : 'it is not on PATH nor in node_modules/.bin';
    return {
      ok: false,
      error: { code: 'CLI_MISSING', message: `${inv.cli} not found: ${where}; ${inv.installHint}` },
      usage: [],
      attempts: 0,
    };
  }
  const { args, env, dispose } = inv.prepare(binary);
  const sandbox = request.sandbox?.enabled ? request.sandbox : undefined;
  if (sandbox && !sandbox.wrapAgents) {
    request.onProgress?.({
      type: 'warning',
      message: `the run's OS sandbox does not hold ${inv.cli}'s own tools (only its tool settings do); sandbox.wrapAgents runs the whole CLI inside it (docs/sandbox.md)`,
    });
  }
  let wrapped: WrappedAgent | undefined;
  if (sandbox?.wrapAgents) {
    try {
      wrapped = await sandboxAgentCommand(sandbox, { binary, args, cwd: request.cwd, env, gatewayUrl: inv.gatewayUrl });
    } catch (err) {
      dispose();
      // Fail closed: no sandbox, no agent process.
      if (err instanceof SandboxError) return { ok: false, error: { code: err.code, message: err.message }, usage: [], attempts: 0 };
      throw err;
    }
  }
  let exit: CliExit;
  try {
    exit = await runJsonLines({
      command: wrapped ? wrapped.file : binary,
      args: wrapped ? wrapped.args : args,
      cwd: request.cwd,
      env,
      ...(request.signal ? { signal: request.signal } : {}),
      ...(request.timeoutMs ? { timeoutMs: request.timeoutMs } : {}),
      onJson: (line) => inv.reader.read(line),
    });
  } finally {
    dispose();
    await wrapped?.dispose();
  }
  const reader = inv.reader;
  const measured = inv.gatewayUrl && request.callTag ? await gatewayUsage(inv.gatewayUrl, request.callTag) : null;
  const usage = measured ?? reader.reportedUsage(request.model);
  const detail: AgentDetail = { turns: reader.turns, toolCalls: reader.toolCalls, usageSource: measured ? 'gateway' : 'agent' };
  if (reader.steps) detail.steps = reader.steps;
  if (reader.transcript) detail.transcript = reader.transcript;
  if (reader.sessionId) detail.sessionId = reader.sessionId;
  const attempts = Math.max(1, usage.length);
  const failed = (error: AgentFailure): AgentOutcome => ({ ok: false, error, usage, attempts, detail });
  const failure = exitFailure(inv.cli, exit, request.timeoutMs);
  if (failure) return failed(failure);
  const answer = reader.answer();
  if ('failure' in answer) {
    // No answer and a non-zero exit: the exit (with stderr) says more than "no result".
    if (answer.failure.code === 'CLI_CRASHED' && exit.code !== 0) {
      return failed({ code: 'CLI_CRASHED', message: `${inv.cli} exited with code ${exit.code} without a result${tail(exit)}` });
    }
    return failed(answer.failure);
  }
  if (exit.code !== 0) return failed({ code: 'CLI_EXIT', message: `${inv.cli} exited with code ${exit.code}${tail(exit)}` });
  return finalOutcome({
    text: answer.text,
    ...(answer.object !== undefined ? { object: answer.object } : {}),
    schema: request.schema,
    model: answer.model ?? request.model,
    usage,
    attempts,
    detail,
  });
}
