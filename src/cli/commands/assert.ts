/** @module `drover assert`: flags here, the work in ../handlers/assert.ts. */
import type { Command } from 'commander';
import { action, collect } from '../action.js';

export function register(program: Command): void {
  program
    .command('assert [spec]')
    .description('check spans against a spec (and/or a golden trace); exit 1 on a failed assertion, 2 on a spec error')
    .option('--run <id>', 'spans of a run')
    .option('--trace <id>', 'spans of a trace (repeatable)', collect)
    .option('--file <otlp.json>', 'spans from an OTLP/JSON file')
    .option('--since <when>', 'spans that started since (10m, 2h, or a time)')
    .option('--golden <file>', 'compare the structure with a golden trace')
    .option('--junit <file>', 'also write JUnit XML')
    .option('--json', 'the result as JSON')
    .action(action<[string | undefined]>(async (spec, f) => (await import('../handlers/assert.js')).assertCommand(spec, f)));
}
