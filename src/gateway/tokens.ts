/**
 * Token counting for the sim's `usage: auto` and its cacheable-prefix figure, with an
 * open BPE tokenizer (close to, not equal to, Anthropic's count). Loaded on first
 * gateway start, not at import: its tables cost ~100 ms and processes that only run
 * workflows never need them.
 */
let tokenizer: { encode(text: string): number[]; countTokens(text: string): number } | undefined;

export async function loadTokenCounter(): Promise<void> {
  if (!tokenizer) tokenizer = await import('gpt-tokenizer');
}

function loaded() {
  if (!tokenizer) throw new Error('token counter not loaded: call loadTokenCounter() first');
  return tokenizer;
}

export function countTokens(text: string): number {
  return loaded().countTokens(text);
}

export function encodeTokens(text: string): number[] {
  return loaded().encode(text);
}
