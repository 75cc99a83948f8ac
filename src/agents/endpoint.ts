/**
 * One gateway URL serves every client: Anthropic's SDK and Claude Code take its root
 * (they add /v1 themselves), OpenAI's SDK and Codex take the /v1 base, and drover's
 * own endpoints (/_drover/usage) hang off the root.
 */
export function gatewayRoot(url: string): string {
  return url.replace(/\/$/, '').replace(/\/v1$/, '');
}

export function openAiBase(url: string): string {
  return `${gatewayRoot(url)}/v1`;
}
