/**
 * @module
 * Checks `drover.config.json` `prices` by hand (config loads on every command, and zod costs more
 * than a bare start; see src/config/index.ts). One problem at a time, naming its path.
 */

const RATE_KEYS = ['input', 'output', 'cacheRead', 'cacheWrite5m', 'cacheWrite1h'] as const;
const ENTRY_KEYS = new Set<string>([...RATE_KEYS, 'provider', 'source', 'longContext', 'perUse']);
const TIER_KEYS = new Set<string>([...RATE_KEYS, 'aboveInputTokens']);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isRate = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;

function checkRates(v: Record<string, unknown>, where: string, known: Set<string>): [string, string] | undefined {
  for (const key of Object.keys(v)) {
    if (!known.has(key)) return [`${where}.${key}`, `unknown key (known: ${[...known].join(', ')})`];
  }
  for (const key of ['input', 'output'] as const) {
    if (v[key] === undefined) return [`${where}.${key}`, 'required: USD per million tokens'];
  }
  for (const key of RATE_KEYS) {
    if (v[key] !== undefined && !isRate(v[key])) return [`${where}.${key}`, 'expected a number ≥ 0 (USD per million tokens)'];
  }
  return undefined;
}

/**
 * The first problem of a `prices` value as `[path, what]`, or undefined when it is valid.
 * Shape: `{ "<exact model id>": { input, output, cacheRead?, cacheWrite5m?, cacheWrite1h?,
 * provider?: "anthropic"|"openai", source?, longContext?: { aboveInputTokens, input, output, ... },
 * perUse?: { "<server tool>": USD } } }`.
 */
export function pricesProblem(raw: unknown): [string, string] | undefined {
  if (!isObject(raw)) return ['prices', 'expected an object: { "<model id>": { "input": 3, "output": 15 } }'];
  for (const [model, entry] of Object.entries(raw)) {
    const where = `prices.${model}`;
    if (!isObject(entry)) return [where, 'expected an object with input and output (USD per million tokens)'];
    const bad = checkRates(entry, where, ENTRY_KEYS);
    if (bad) return bad;
    if (entry.provider !== undefined && entry.provider !== 'anthropic' && entry.provider !== 'openai') {
      return [`${where}.provider`, 'expected "anthropic" or "openai"'];
    }
    if (entry.source !== undefined && typeof entry.source !== 'string') return [`${where}.source`, 'expected a string'];
    if (entry.longContext !== undefined) {
      const tier = entry.longContext;
      if (!isObject(tier)) return [`${where}.longContext`, 'expected an object with aboveInputTokens, input and output'];
      const badTier = checkRates(tier, `${where}.longContext`, TIER_KEYS);
      if (badTier) return badTier;
      if (!Number.isInteger(tier.aboveInputTokens) || (tier.aboveInputTokens as number) < 1) {
        return [`${where}.longContext.aboveInputTokens`, 'expected a whole number of tokens ≥ 1'];
      }
    }
    if (entry.perUse !== undefined) {
      if (!isObject(entry.perUse)) return [`${where}.perUse`, 'expected an object: { "web_search_requests": 0.01 } (USD per use)'];
      for (const [tool, usd] of Object.entries(entry.perUse)) {
        if (!isRate(usd)) return [`${where}.perUse.${tool}`, 'expected a number ≥ 0 (USD per use)'];
      }
    }
  }
  return undefined;
}
