/** @module `drover doctor`: flags here, the work in ../handlers/doctor.ts. */
import type { Command } from 'commander';
import { action } from '../action.js';

export function register(program: Command): void {
  program
    .command('doctor')
    .description("check Node, the store's integrity and schema version, and the agent backends")
    .option('--json', 'JSON output')
    .action(action<[]>(async (flags) => (await import('../handlers/doctor.js')).doctorCommand(flags)));
}
