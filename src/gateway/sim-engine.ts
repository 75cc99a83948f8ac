import { randomBytes } from 'node:crypto';
import type { Scenario, ScenarioFault, ScenarioRule, ScenarioTurn, ScenarioUsage } from './scenario.js';
import type { SimRequest } from './sim-request.js';
import { countTokens } from './tokens.js';

/**
 * Decides what the sim answers to one model request, on any wire. No I/O:
 * the server feeds it normalized requests and encodes what it returns.
 */

export type ContentBlock =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> | string };

export interface PlannedMessage {
  id: string;
  model: string;
  content: ContentBlock[];
  stopReason: string;
  usage: Required<ScenarioUsage>;
}

export type SimPlan =
  | {
      kind: 'message';
      rule: string;
      turn: number;
      latencyMs: number;
      message: PlannedMessage;
      cutAfterEvents?: number;
      hold?: string;
      /** Stream events sent before waiting at `hold` (scenario `hold_after_events`). */
      holdAfterEvents?: number;
      /** Wait between stream events (ms, scenario `event_interval_ms`). */
      eventIntervalMs?: number;
    }
  | {
      kind: 'error';
      rule: string;
      status: number;
      errorType: string;
      message: string;
      retryAfterS?: number;
      latencyMs: number;
      hold?: string;
    };

/** Tools through which a structured (`json`) turn is answered when the request offers one. */
export const STRUCTURED_OUTPUT_TOOLS = ['submit_result', 'StructuredOutput'];

function substitute(value: unknown, groups: Record<string, string>): unknown {
  if (typeof value === 'string') return value.replace(/\{\{\s*([\w]+)\s*\}\}/g, (all, name: string) => groups[name] ?? all);
  if (Array.isArray(value)) return value.map((v) => substitute(v, groups));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, groups)]));
  }
  return value;
}

export class SimEngine {
  private readonly faultCounters = new Map<string, number>();
  constructor(readonly scenario: Scenario) {}

  resetCounters(): void {
    this.faultCounters.clear();
  }

  /** `inputTokens`: the request's counted size (the server tokenizes `rendered` once). */
  plan(req: SimRequest, inputTokens: number): SimPlan {
    const { prompt, turnIndex } = req;
    for (const rule of this.scenario.rules) {
      const groups = this.matchRule(rule, req);
      if (!groups) continue;
      const latencyMs = rule.latency_ms ?? this.scenario.defaults.latency_ms;
      const hold = rule.hold ? { hold: substitute(rule.hold, groups) as string } : {};
      const holdAfter = rule.hold && rule.hold_after_events ? { holdAfterEvents: rule.hold_after_events } : {};
      const fault = this.takeFault(rule);
      if (fault?.status) return { ...errorPlan(rule.name, fault, latencyMs), ...hold };
      const turn = rule.turns[Math.min(turnIndex, rule.turns.length - 1)] as ScenarioTurn;
      const message = this.buildMessage(req, inputTokens, turn, groups, rule.usage);
      return {
        kind: 'message',
        rule: rule.name,
        turn: turnIndex,
        latencyMs,
        message,
        ...hold,
        ...holdAfter,
        ...(rule.event_interval_ms ? { eventIntervalMs: rule.event_interval_ms } : {}),
        ...(fault?.cut_after_events ? { cutAfterEvents: fault.cut_after_events } : {}),
      };
    }
    if (this.scenario.fallback) {
      return {
        kind: 'message',
        rule: 'fallback',
        turn: turnIndex,
        latencyMs: this.scenario.defaults.latency_ms,
        message: this.buildMessage(req, inputTokens, this.scenario.fallback, { prompt }, undefined),
      };
    }
    return {
      kind: 'error',
      rule: '(none)',
      status: 400,
      errorType: 'invalid_request_error',
      message: `sim gateway: no rule of scenario ${this.scenario.name} matches this request (prompt begins: ${JSON.stringify(prompt.slice(0, 80))})`,
      latencyMs: 0,
    };
  }

  private matchRule(rule: ScenarioRule, req: SimRequest): Record<string, string> | null {
    const groups: Record<string, string> = { prompt: req.prompt };
    const checks: [RegExp | undefined, string][] = [
      [rule.match.prompt, req.prompt],
      [rule.match.last, req.last],
      [rule.match.system, req.system],
      [rule.match.model, req.model],
      [rule.match.agent, req.agent],
      [rule.match.wire, req.wire],
    ];
    for (const [re, text] of checks) {
      if (!re) continue;
      const m = re.exec(text);
      if (!m) return null;
      m.forEach((g, i) => {
        if (i > 0 && g !== undefined) groups[String(i)] = g;
      });
      Object.assign(groups, m.groups ?? {});
    }
    return groups;
  }

  private takeFault(rule: ScenarioRule): ScenarioFault | undefined {
    for (const [i, fault] of rule.faults.entries()) {
      const key = `${rule.name}#${i}`;
      const seen = this.faultCounters.get(key) ?? 0;
      this.faultCounters.set(key, seen + 1);
      if (seen >= fault.after && seen < fault.after + fault.times) return fault;
    }
    return undefined;
  }

  private buildMessage(
    req: SimRequest,
    inputTokens: number,
    turn: ScenarioTurn,
    groups: Record<string, string>,
    ruleUsage: 'auto' | ScenarioUsage | undefined,
  ): PlannedMessage {
    const content: ContentBlock[] = [];
    if (turn.text !== undefined) content.push({ type: 'text', text: substitute(turn.text, groups) as string });
    if (turn.json !== undefined) {
      const value = substitute(turn.json, groups);
      const offered = new Set(req.tools.map((t) => t.name));
      const tool = req.forcedTool ?? (req.jsonText ? undefined : STRUCTURED_OUTPUT_TOOLS.find((n) => offered.has(n)));
      if (tool && value && typeof value === 'object' && !Array.isArray(value)) {
        content.push({ type: 'tool_use', id: toolUseId(), name: tool, input: value as Record<string, unknown> });
      } else {
        content.push({ type: 'text', text: JSON.stringify(value) });
      }
    }
    const uses = turn.tool_use === undefined ? [] : Array.isArray(turn.tool_use) ? turn.tool_use : [turn.tool_use];
    for (const use of uses) {
      const input = substitute(use.input, groups) as Record<string, unknown> | string;
      const custom = req.tools.find((t) => t.name === use.name)?.kind === 'custom';
      // A free-form (custom) tool takes text; a function tool given text gets it as `{ input }`.
      const fitted = custom ? (typeof input === 'string' ? input : JSON.stringify(input)) : typeof input === 'string' ? { input } : input;
      content.push({ type: 'tool_use', id: toolUseId(), name: use.name, input: fitted });
    }
    const stopReason = turn.stop_reason ?? (content.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn');
    const usageSetting = turn.usage ?? ruleUsage ?? this.scenario.defaults.usage;
    return {
      id: `msg_sim_${randomBytes(8).toString('hex')}`,
      model: req.model || this.scenario.defaults.model,
      content,
      stopReason,
      usage: resolveUsage(usageSetting, inputTokens, content),
    };
  }
}

function toolUseId(): string {
  return `toolu_sim_${randomBytes(8).toString('hex')}`;
}

function errorPlan(rule: string, fault: ScenarioFault, latencyMs: number): SimPlan {
  const status = fault.status ?? 500;
  const errorType = fault.error_type ?? (status === 429 ? 'rate_limit_error' : status === 529 ? 'overloaded_error' : 'api_error');
  return {
    kind: 'error',
    rule,
    status,
    errorType,
    message: fault.message ?? `sim gateway: injected ${status} (${errorType})`,
    latencyMs,
    ...(fault.retry_after_s !== undefined ? { retryAfterS: fault.retry_after_s } : status === 429 ? { retryAfterS: 0 } : {}),
  };
}

function resolveUsage(setting: 'auto' | ScenarioUsage, inputTokens: number, content: ContentBlock[]): Required<ScenarioUsage> {
  const given = setting === 'auto' ? {} : setting;
  const outputText = content
    .map((b) => (b.type === 'text' ? b.text : typeof b.input === 'string' ? b.input : JSON.stringify(b.input)))
    .join('\n');
  return {
    input_tokens: given.input_tokens ?? inputTokens,
    output_tokens: given.output_tokens ?? Math.max(1, countTokens(outputText)),
    cache_read_input_tokens: given.cache_read_input_tokens ?? 0,
    cache_creation_input_tokens: given.cache_creation_input_tokens ?? 0,
  };
}
