import { existsSync } from 'node:fs';
import { checkBackends } from '../../agents/availability.js';
import { sandboxStatus } from '../../sandbox/index.js';
import { diagnosePostgres, diagnoseStore, isPostgresUrl, redactUrl } from '../../store/index.js';
import type { StoreHealth } from '../../store/types.js';
import { type GlobalFlags, loadConfig } from '../context.js';
import { color, EXIT, printJson } from '../output.js';

/**
 * `drover doctor`: Node, the store (integrity, schema version), the agent backends and the OS sandbox (bubblewrap), in plain words.
 * Exit 1 when Node is too old or an existing store has a problem; a store that does not exist yet
 * is reported (commands that write create it) and is not a failure. A damaged store file gets the
 * `<store>.damaged` mark (writing commands then refuse it); a clean check removes the mark.
 * A PostgreSQL store (a URL) is checked for connection, server version and schema version; a
 * server that cannot be reached is a problem (exit 1), a database without drover's tables yet is
 * "none yet". The URL is printed with its password replaced by `***`.
 */
export async function doctorCommand(flags: GlobalFlags): Promise<number> {
  const config = loadConfig(flags);
  const postgres = isPostgresUrl(config.storePath);
  const location = redactUrl(config.storePath);
  let health: StoreHealth | undefined;
  if (postgres) {
    const found = await diagnosePostgres(config.storePath);
    // Reached, and no drover tables yet: like an SQLite file not created yet (commands that write create them).
    health = found.schemaVersion === 0 && found.problems.every((p) => p.includes('any drover command that writes')) ? undefined : found;
  } else {
    const exists = config.storePath === ':memory:' || existsSync(config.storePath);
    health = exists ? diagnoseStore(config.storePath) : undefined;
  }
  const checks = {
    node: { ok: Number(process.versions.node.split('.')[0]) >= 20, detail: process.versions.node },
    store: health
      ? { exists: true, kind: postgres ? 'postgres' : 'sqlite', ...health }
      : { exists: false, ok: true, kind: postgres ? 'postgres' : 'sqlite', location },
    projectRoot: config.projectRoot,
    // The CLI backends are optional: a missing one is reported, not a failure.
    backends: await checkBackends(),
    // Optional too: only runs that ask for a sandbox need it, and those are refused without it.
    sandbox: await sandboxStatus(),
  };
  const ok = checks.node.ok && (health?.ok ?? true);
  if (flags.json) printJson({ ok, ...checks });
  else {
    process.stdout.write(`project root: ${config.projectRoot}\n`);
    process.stdout.write(
      `node ${checks.node.detail}: ${checks.node.ok ? color.green('ok') : color.red('drover needs Node 20.19 or newer')}\n`,
    );
    if (!health) {
      process.stdout.write(`store ${location}: ${color.dim('none yet')} (drover run or drover tasks add creates it)\n`);
      // A new PostgreSQL store is often where an existing SQLite store is about to move.
      if (postgres) process.stdout.write(`  to move an existing store here: drover store migrate --to '${location}'\n`);
    } else {
      process.stdout.write(`store ${location}: ${health.ok ? color.green('ok') : color.red('problem')}\n`);
      process.stdout.write(
        `  schema version ${health.schemaVersion ?? (postgres ? 'unknown (the database could not be read)' : 'unknown (the file could not be read)')} (this drover: ${health.expectedSchemaVersion})\n`,
      );
      for (const [k, v] of Object.entries(health.facts)) if (k !== 'location') process.stdout.write(`  ${k}: ${v}\n`);
      for (const p of health.problems) process.stdout.write(`  ${color.red('✗')} ${p}\n`);
      if (health.damage) {
        process.stdout.write(
          `  ${color.red('damaged')}: commands that write refuse this store (exit 7) until a check is clean; restore a backup, or salvage it with \`sqlite3 ${config.storePath} .recover | sqlite3 recovered.db\`\n`,
        );
      }
    }
    process.stdout.write('agent backends:\n');
    for (const b of checks.backends) {
      process.stdout.write(`  ${b.usable ? color.green('✓') : color.red('✗')} ${b.name}: ${b.detail}\n`);
    }
    const sb = checks.sandbox;
    process.stdout.write(
      sb.available
        ? `OS sandbox: ${color.green('available')} (bubblewrap ${sb.version} at ${sb.binary})\n`
        : `OS sandbox: ${color.red('unavailable')}: ${sb.reason} (runs that ask for a sandbox are refused)\n`,
    );
  }
  return ok ? EXIT.ok : EXIT.failed;
}
