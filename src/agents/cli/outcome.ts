import { validateAgainst } from '../schema.js';
import type { AgentDetail, AgentFailure, AgentOutcome, JsonSchema, RequestUsage } from '../types.js';
import type { CliExit } from './json-lines.js';

/** Why an agent process ended without an answer, in words a user can act on. */
export function exitFailure(cli: string, exit: CliExit, timeoutMs: number | undefined): AgentFailure | null {
  if (exit.spawnError) {
    return exit.spawnError.code === 'ENOENT'
      ? { code: 'CLI_MISSING', message: `${cli}: executable not found (${exit.spawnError.message})` }
      : { code: 'CLI_SPAWN', message: `${cli}: could not start: ${exit.spawnError.message}` };
  }
  if (exit.aborted) return { code: 'ABORTED', message: 'agent aborted' };
  if (exit.timedOut) return { code: 'TIMEOUT', message: `${cli} timed out after ${timeoutMs} ms` };
  if (exit.signal) return { code: 'CLI_CRASHED', message: `${cli} was killed by ${exit.signal}${tail(exit)}` };
  return null;
}

export function tail(exit: CliExit): string {
  const last = exit.stderrTail.split('\n').slice(-5).join(' | ');
  return last ? `: ${last}` : '';
}

/** Turns a CLI's final text into the call's result, checking it against the schema when there is one. */
export function finalOutcome(args: {
  text: string;
  object?: unknown;
  schema: JsonSchema | undefined;
  model: string;
  usage: RequestUsage[];
  attempts: number;
  detail: AgentDetail;
}): AgentOutcome {
  const { schema, usage, attempts, detail } = args;
  if (!schema) return { ok: true, text: args.text, model: args.model, stopReason: 'end_turn', usage, attempts, detail };
  let value = args.object;
  if (value === undefined) {
    try {
      value = JSON.parse(args.text);
    } catch {
      return {
        ok: false,
        error: { code: 'SCHEMA_MISMATCH', message: `the agent's answer is not JSON: ${args.text.slice(0, 200)}` },
        usage,
        attempts,
        detail,
      };
    }
  }
  const problem = validateAgainst(schema, value);
  if (problem !== null)
    return { ok: false, error: { code: 'SCHEMA_MISMATCH', message: `structured result invalid: ${problem}` }, usage, attempts, detail };
  return { ok: true, text: JSON.stringify(value), object: value, model: args.model, stopReason: 'end_turn', usage, attempts, detail };
}
