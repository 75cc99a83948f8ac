/** @module `drover gateway`: flags here, the work in ../handlers/gateway.ts. */
import type { Command } from 'commander';
import { action, int } from '../action.js';

export function register(program: Command): void {
  program
    .command('gateway')
    .description('serve a model gateway (sim mode: Anthropic Messages, OpenAI Responses and Chat Completions from a scenario file)')
    .requiredOption('--mode <mode>', 'sim')
    .option('--scenario <file>', 'scenario YAML for sim mode')
    .option('--port <port>', 'port (0 picks a free one)', int('--port', 0), 8787)
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--json', 'print the address as JSON')
    .action(action<[]>(async (flags) => (await import('../handlers/gateway.js')).gatewayCommand(flags as never)));
}
