import { z } from 'zod';
import { InputError, readInputFile } from '../core/index.js';
import { parseYamlInput } from '../core/yaml-input.js';

/**
 * A sim scenario: rules matched in order against each request; the matching
 * rule answers with the turn whose index is the number of assistant messages
 * already in the conversation (so multi-turn tool loops need no server state).
 */
const UsageSchema = z
  .object({
    input_tokens: z.number().int().min(0).optional(),
    output_tokens: z.number().int().min(0).optional(),
    cache_read_input_tokens: z.number().int().min(0).optional(),
    cache_creation_input_tokens: z.number().int().min(0).optional(),
  })
  .strict();

// `input` is a string for free-form (custom) tools such as Codex's apply_patch.
const ToolUseSchema = z
  .object({ name: z.string().min(1), input: z.union([z.record(z.string(), z.unknown()), z.string()]).default({}) })
  .strict();

const TurnSchema = z
  .object({
    text: z.string().optional(),
    json: z.unknown().optional(),
    tool_use: z.union([ToolUseSchema, z.array(ToolUseSchema).min(1)]).optional(),
    stop_reason: z.enum(['end_turn', 'max_tokens', 'stop_sequence', 'tool_use', 'pause_turn', 'refusal']).optional(),
    usage: UsageSchema.optional(),
  })
  .strict()
  .refine((t) => t.text !== undefined || t.json !== undefined || t.tool_use !== undefined, {
    message: 'a turn needs text, json or tool_use',
  });

const FaultSchema = z
  .object({
    status: z.union([z.literal(429), z.literal(500), z.literal(503), z.literal(529)]).optional(),
    cut_after_events: z.number().int().min(1).optional(),
    times: z.number().int().min(1).default(1),
    after: z.number().int().min(0).default(0),
    retry_after_s: z.number().min(0).optional(),
    /** The error's `type` (Anthropic) / `code` (OpenAI), e.g. `insufficient_quota`; default from the status. */
    error_type: z.string().min(1).optional(),
    /** The error's message; default "sim gateway: injected <status> (<type>)". */
    message: z.string().min(1).optional(),
  })
  .strict()
  .refine((f) => (f.status === undefined) !== (f.cut_after_events === undefined), {
    message: 'a fault needs exactly one of status or cut_after_events',
  });

const MatchSchema = z
  .object({
    prompt: z.string().optional(),
    last: z.string().optional(),
    system: z.string().optional(),
    model: z.string().optional(),
    /** Who is asking: `builtin`, `claude-code`, `codex` (or the `x-drover-agent` header's value). */
    agent: z.string().optional(),
    /** Which wire the request came in on: anthropic, responses or chat. */
    wire: z.string().optional(),
  })
  .strict();

const RuleSchema = z
  .object({
    name: z.string().min(1).optional(),
    match: MatchSchema.default({}),
    turns: z.array(TurnSchema).min(1),
    latency_ms: z.number().min(0).optional(),
    /**
     * Gate name (`{{1}}` and other match groups are filled in): a matching request is held
     * until the gate is opened (`POST /_drover/gates/<name>/open`, or `gates.open(name)` in
     * process). Tests use it to fix the order answers arrive in, instead of timing.
     */
    hold: z.string().min(1).optional(),
    /**
     * With `hold`: a streamed answer sends this many events first, then waits at the gate
     * (tests of a proxy's time to first byte: the first events reach the client while the
     * upstream is held). Without it, the request waits before any byte is sent.
     */
    hold_after_events: z.number().int().min(1).optional(),
    /**
     * A streamed answer waits this long (ms) between its events, like a model producing tokens
     * (benchmarks of long-lived streams). Default 0: every event at once.
     */
    event_interval_ms: z.number().min(0).max(60_000).optional(),
    usage: z.union([z.literal('auto'), UsageSchema]).optional(),
    faults: z.array(FaultSchema).default([]),
  })
  .strict();

const ScenarioSchema = z
  .object({
    name: z.string().optional(),
    defaults: z
      .object({
        latency_ms: z.number().min(0).default(0),
        usage: z.union([z.literal('auto'), UsageSchema]).default('auto'),
        model: z.string().default('claude-sim-1'),
      })
      .strict()
      .default({ latency_ms: 0, usage: 'auto', model: 'claude-sim-1' }),
    rules: z.array(RuleSchema).default([]),
    fallback: TurnSchema.optional(),
  })
  .strict();

export type ScenarioUsage = z.infer<typeof UsageSchema>;
export type ScenarioTurn = z.infer<typeof TurnSchema>;
export type ScenarioFault = z.infer<typeof FaultSchema>;
type RawRule = z.infer<typeof RuleSchema>;

export interface CompiledMatch {
  prompt?: RegExp;
  last?: RegExp;
  system?: RegExp;
  model?: RegExp;
  agent?: RegExp;
  wire?: RegExp;
}

export interface ScenarioRule extends Omit<RawRule, 'match'> {
  name: string;
  match: CompiledMatch;
}

export interface Scenario {
  name: string;
  source: string;
  defaults: { latency_ms: number; usage: 'auto' | ScenarioUsage; model: string };
  rules: ScenarioRule[];
  fallback: ScenarioTurn | undefined;
}

export class ScenarioError extends InputError {
  constructor(message: string) {
    super(message, 'INVALID_SCENARIO');
  }
}

/** Loads and checks a scenario file; any problem names file, line and column. */
export function loadScenario(file: string): Scenario {
  return parseScenario(
    readInputFile(file, 'scenario', (m) => new ScenarioError(m)),
    file,
  );
}

export function parseScenario(text: string, file = '<scenario>'): Scenario {
  const { data, at } = parseYamlInput(text, file, ScenarioSchema, (m) => new ScenarioError(m));
  const rules = data.rules.map((rule, i): ScenarioRule => {
    const match: CompiledMatch = {};
    for (const key of ['prompt', 'last', 'system', 'model', 'agent', 'wire'] as const) {
      const pattern = rule.match[key];
      if (pattern === undefined) continue;
      try {
        match[key] = new RegExp(pattern, 's');
      } catch (err) {
        throw new ScenarioError(`${at(['rules', i, 'match', key])}: rules.${i}.match.${key}: bad regex: ${(err as Error).message}`);
      }
    }
    return { ...rule, name: rule.name ?? `rule-${i}`, match };
  });
  // An empty file would answer every request with a 400 while the run "completes": refuse it here.
  if (rules.length === 0 && data.fallback === undefined) {
    throw new ScenarioError(`${file}: the scenario answers nothing: give \`rules:\` (or a \`fallback:\` turn)`);
  }
  return { name: data.name ?? file, source: file, defaults: data.defaults, rules, fallback: data.fallback };
}
