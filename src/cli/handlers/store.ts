/** @module `drover store migrate` and `drover store verify`: src/store/migrate.ts, printed. */
import { resolve } from 'node:path';
import { isPostgresUrl } from '../../store/location.js';
import { migrateStore, type StoreComparison, verifyStores } from '../../store/migrate.js';
import { type GlobalFlags, loadConfig } from '../context.js';
import { color, EXIT, printJson } from '../output.js';

/** `to` is a required option: commander refuses the command without it. */
type StoreFlags = GlobalFlags & { to?: string; from?: string; batchSize?: number };

/** A location as given: a URL as is, a path from the working directory. */
const locate = (location: string) => (isPostgresUrl(location) ? location : resolve(location));

function endpoints(flags: StoreFlags): { from: string; to: string } {
  return { from: flags.from ? locate(flags.from) : loadConfig(flags).storePath, to: locate(flags.to ?? '') };
}

/**
 * `drover store migrate --to <location> [--from <location>]`: exit 0 when every table's count and
 * checksum agree, 1 when one differs (named), 2 for a target that is not empty, a missing source or
 * an unreachable server (nothing written).
 */
export async function migrateCommand(flags: StoreFlags): Promise<number> {
  const { from, to } = endpoints(flags);
  // On a terminal, one line that counts the rows copied (a store can hold millions of spans).
  const live = !flags.json && process.stderr.isTTY === true;
  const report = await migrateStore({
    from,
    to,
    ...(flags.batchSize ? { batchSize: flags.batchSize } : {}),
    ...(live
      ? {
          onProgress: ({ table, rows }) => {
            process.stderr.write(`\r\x1b[Kcopying ${table}: ${rows.toLocaleString('en-US')} rows`);
          },
        }
      : {}),
  });
  if (live) process.stderr.write('\r\x1b[K');
  return print(report, flags, 'copied');
}

/** `drover store verify --to <location> [--from <location>]`: exit 0 when the stores hold the same rows, 1 when a table differs. */
export async function verifyCommand(flags: StoreFlags): Promise<number> {
  return print(await verifyStores({ ...endpoints(flags), ...(flags.batchSize ? { batchSize: flags.batchSize } : {}) }), flags, 'compared');
}

function print(report: StoreComparison, flags: StoreFlags, verb: string): number {
  if (flags.json) {
    printJson(report);
    return report.ok ? EXIT.ok : EXIT.failed;
  }
  const out = [
    `${verb} ${report.from} (${report.fromKind}) → ${report.to} (${report.toKind}) in ${(report.durationMs / 1000).toFixed(1)} s`,
  ];
  const width = Math.max(5, ...report.tables.map((t) => t.table.length));
  const n = (x: number) => x.toLocaleString('en-US');
  const rowsWidth = Math.max(6, ...report.tables.map((t) => n(Math.max(t.sourceRows, t.targetRows)).length));
  out.push(`  ${'table'.padEnd(width)}  ${'from'.padStart(rowsWidth)}  ${'to'.padStart(rowsWidth)}  checksum`);
  for (const t of report.tables) {
    const sum =
      t.sourceChecksum === t.targetChecksum
        ? t.sourceChecksum.slice(0, 16)
        : `${t.sourceChecksum.slice(0, 16)} ≠ ${t.targetChecksum.slice(0, 16)}`;
    out.push(
      `  ${t.table.padEnd(width)}  ${n(t.sourceRows).padStart(rowsWidth)}  ${n(t.targetRows).padStart(rowsWidth)}  ${sum}  ${t.ok ? color.green('ok') : color.red('differs')}`,
    );
  }
  if (report.nulReplaced > 0) {
    out.push(
      color.yellow(
        `  ${n(report.nulReplaced)} text value${report.nulReplaced === 1 ? '' : 's'} held U+0000, which PostgreSQL cannot store: written with U+FFFD in its place`,
      ),
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
  if (report.ok) {
    process.stdout.write(
      `${color.green('verified')}: ${report.tables.length} tables, ${n(report.rows)} rows, counts and checksums equal\n`,
    );
    return EXIT.ok;
  }
  process.stderr.write(
    `${color.red('error')}: ${report.mismatched.map((t) => `table ${t}`).join(', ')} ${report.mismatched.length === 1 ? 'differs' : 'differ'} between ${report.from} and ${report.to}\n`,
  );
  return EXIT.failed;
}
