/** @module `drover gateway`: flags here, the work in ../handlers/gateway.ts. */
import type { Command } from 'commander';
import { action, int, oneOf } from '../action.js';

export function register(program: Command): void {
  program
    .command('gateway')
    .description(
      'serve a model gateway: Anthropic Messages, OpenAI Responses and Chat Completions, metered into the store’s ledger (proxy: to the providers; record: proxy + a cassette per request; replay: from cassettes; sim: from a scenario file)',
    )
    .requiredOption('--mode <mode>', 'proxy | sim | record | replay', oneOf('--mode', ['proxy', 'sim', 'record', 'replay']))
    .option('--scenario <file>', 'scenario YAML for sim mode')
    .option('--cassettes <dir>', 'cassette directory for record (written) and replay (read) modes')
    .option('--upstream-anthropic <url>', 'Anthropic API base URL (proxy, record)', 'https://api.anthropic.com')
    .option('--upstream-openai <url>', 'OpenAI API base URL (proxy, record)', 'https://api.openai.com')
    .option('--port <port>', 'port (0 picks a free one)', int('--port', 0, 65535), 8787)
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--json', 'print the address as JSON')
    .action(action<[]>(async (flags) => (await import('../handlers/gateway.js')).gatewayCommand(flags as never)));
}
