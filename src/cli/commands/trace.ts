/** @module `drover trace …`: flags here, the work in ../handlers/trace.ts. */
import type { Command } from 'commander';
import { action } from '../action.js';

const handlers = () => import('../handlers/trace.js');

export function register(program: Command): void {
  const trace = program.command('trace').description('one OpenTelemetry trace per run: show, export, import, collect, gc, golden');
  trace
    .command('show <runOrTrace>')
    .description('an indented waterfall of a run or trace (--json: the span tree)')
    .option('--json', 'the span tree as JSON')
    .action(action<[string]>(async (ref, f) => (await handlers()).traceShow(ref, f)));
  trace
    .command('export <runOrTrace>')
    .description("every span of the trace (drover's and received ones) as standard OTLP/JSON on stdout")
    .option('--format <format>', 'otlp-json', 'otlp-json')
    .option('--pretty', 'indented JSON')
    .action(action<[string]>(async (ref, f) => (await handlers()).traceExport(ref, f)));
  trace
    .command('import <file>')
    .description('read an OTLP/JSON file into the span store')
    .option('--json', 'print counts as JSON')
    .action(action<[string]>(async (file, f) => (await handlers()).traceImport(file, f)));
  trace
    .command('collect [command...]')
    .description(
      'OTLP receivers (HTTP /v1/traces JSON and protobuf on 4318, gRPC on 4317) into the span store; with a command after --, run it and stop',
    )
    .option('--port <port>', 'OTLP/HTTP port (0 picks a free one)', '4318')
    .option('--grpc-port <port>', 'OTLP/gRPC port (default 4317, or 0 with --port 0; "off" for none)')
    .option('--inherit-traceparent', "pass this process's TRACEPARENT/TRACESTATE to the command (default: removed)")
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--linger <duration>', 'wait this long for late spans after the command exits', '1s')
    .option('--json', 'print the result as JSON')
    .action(action<[string[]]>(async (command, f) => (await handlers()).traceCollect(command, f)));
  trace
    .command('gc')
    .description('delete spans older than a duration')
    .requiredOption('--older-than <duration>', 'e.g. 30d, 12h')
    .option('--json', 'print the count as JSON')
    .action(action<[]>(async (f) => (await handlers()).traceGc(f)));
  trace
    .command('golden')
    .description("golden traces: save a trace's structure (names, parent links, key attributes)")
    .command('save <runOrTrace> <file>')
    .description('write the structure of a run or trace to a golden file')
    .option('--json', 'print the result as JSON')
    .action(action<[string, string]>(async (ref, file, f) => (await handlers()).traceGoldenSave(ref, file, f)));
}
