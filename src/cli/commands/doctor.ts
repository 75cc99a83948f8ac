import { checkBackends } from '../../agents/index.js';
import { diagnoseStore } from '../../store/index.js';
import { type GlobalFlags, loadConfig } from '../context.js';
import { color, EXIT, printJson } from '../output.js';

export async function doctorCommand(flags: GlobalFlags): Promise<number> {
  const config = loadConfig(flags);
  const health = diagnoseStore(config.storePath);
  const checks = {
    node: { ok: Number(process.versions.node.split('.')[0]) >= 20, detail: process.versions.node },
    store: health,
    projectRoot: config.projectRoot,
    // The CLI backends are optional: a missing one is reported, not a failure.
    backends: await checkBackends(),
  };
  const ok = checks.node.ok && health.ok;
  if (flags.json) printJson({ ok, ...checks });
  else {
    process.stdout.write(`project root: ${config.projectRoot}\n`);
    process.stdout.write(
      `node ${checks.node.detail}: ${checks.node.ok ? color.green('ok') : color.red('drover needs Node 20.19 or newer')}\n`,
    );
    process.stdout.write(`store ${config.storePath}: ${health.ok ? color.green('ok') : color.red('problem')}\n`);
    process.stdout.write(`  schema version ${health.schemaVersion} (this drover: ${health.expectedSchemaVersion})\n`);
    for (const [k, v] of Object.entries(health.facts)) if (k !== 'location') process.stdout.write(`  ${k}: ${v}\n`);
    for (const p of health.problems) process.stdout.write(`  ${color.red('✗')} ${p}\n`);
    process.stdout.write('agent backends:\n');
    for (const b of checks.backends) {
      process.stdout.write(`  ${b.usable ? color.green('✓') : color.red('✗')} ${b.name}: ${b.detail}\n`);
    }
  }
  return ok ? EXIT.ok : EXIT.failed;
}
