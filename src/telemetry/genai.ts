/**
 * Attribute names: OpenTelemetry GenAI semantic conventions (status: Development;
 * `@opentelemetry/semantic-conventions/incubating` has them) and drover's own.
 */
export const GENAI = {
  operation: 'gen_ai.operation.name',
  provider: 'gen_ai.provider.name',
  requestModel: 'gen_ai.request.model',
  responseModel: 'gen_ai.response.model',
  responseId: 'gen_ai.response.id',
  agentId: 'gen_ai.agent.id',
  agentName: 'gen_ai.agent.name',
  toolName: 'gen_ai.tool.name',
  toolCallId: 'gen_ai.tool.call.id',
  conversationId: 'gen_ai.conversation.id',
  inputTokens: 'gen_ai.usage.input_tokens',
  outputTokens: 'gen_ai.usage.output_tokens',
  cacheReadTokens: 'gen_ai.usage.cache_read.input_tokens',
  cacheCreationTokens: 'gen_ai.usage.cache_creation.input_tokens',
  inputMessages: 'gen_ai.input.messages',
  outputMessages: 'gen_ai.output.messages',
  errorType: 'error.type',
} as const;

export const DROVER = {
  runId: 'drover.run.id',
  callKey: 'drover.call.key',
  phase: 'drover.phase',
  costUsd: 'drover.cost.usd',
  reused: 'drover.call.reused',
  backend: 'drover.backend',
  workflow: 'drover.workflow.name',
  execution: 'drover.execution',
} as const;

/**
 * drover's attributes that are OTLP doubles even when whole (a cost of 0 USD is `doubleValue: 0`,
 * never `intValue`): the plain attribute map cannot tell 0 from 0.0, so export asks here.
 */
export const DROVER_DOUBLE_ATTRIBUTES: ReadonlySet<string> = new Set([DROVER.costUsd]);
