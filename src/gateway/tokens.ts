/**
 * Token counting for the sim's `usage: auto`, with an open BPE tokenizer (close to,
 * not equal to, Anthropic's count). Loaded on first gateway start, not at import:
 * its tables cost ~100 ms and processes that only run workflows never need them.
 */
let counter: ((text: string) => number) | undefined;

export async function loadTokenCounter(): Promise<void> {
  if (!counter) counter = (await import('gpt-tokenizer')).countTokens;
}

export function countTokens(text: string): number {
  if (!counter) throw new Error('token counter not loaded: call loadTokenCounter() first');
  return counter(text);
}
