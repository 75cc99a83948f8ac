/**
 * @module `drover workflows`, `workflows attach`, `workflows promote` and `workflows log`: the work
 * behind ../commands/workflows.ts. The inventory and gates live in src/inventory.
 */
import { formatUsd } from '../../budget/reports.js';
import { attachEvaluation, type GateStatus, promoteWorkflow, workflowInventory } from '../../inventory/index.js';
import { type GlobalFlags, openStore } from '../context.js';
import { color, EXIT, printJson } from '../output.js';

const pct = (r: number | null) => (r === null ? '-' : `${Math.round(r * 100)}%`);

function gateLines(gate: GateStatus): string[] {
  return gate.items.map((i) => `  ${i.ok ? color.green('✓') : color.red('✗')} ${i.id}: ${i.detail}`);
}

/** `drover workflows [--json]`: the inventory; exit 0 (2 when there is no store). */
export async function workflowsCommand(flags: GlobalFlags): Promise<number> {
  const { store } = openStore(flags, { readOnly: true });
  try {
    const entries = await workflowInventory(store);
    if (flags.json) {
      printJson({ workflows: entries });
      return EXIT.ok;
    }
    if (entries.length === 0) {
      process.stdout.write('no workflow has run with this store yet\n');
      return EXIT.ok;
    }
    const rows = entries.map((e) => [
      e.name,
      e.tier,
      e.promotedTier ?? '-',
      e.owner ?? '-',
      String(e.runs),
      pct(e.successRate),
      formatUsd(e.spend.last7d.usd),
      formatUsd(e.spend.last30d.usd),
      `${e.lastRun.at.slice(0, 16).replace('T', ' ')} ${e.lastRun.status}`,
      e.gate ? `${e.gate.tier}: ${e.gate.passed ? 'ready' : `missing ${e.gate.missing.map((m) => m.id).join(', ')}`}` : '-',
      String(e.policyDenials),
    ]);
    const head = ['WORKFLOW', 'TIER', 'PROMOTED', 'OWNER', 'RUNS', 'SUCCESS', 'SPEND 7D', 'SPEND 30D', 'LAST RUN', 'NEXT GATE', 'DENIALS'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
    const line = (r: string[]) =>
      r
        .map((c, i) => c.padEnd(widths[i] as number))
        .join('  ')
        .trimEnd();
    process.stdout.write(`${[color.bold(line(head)), ...rows.map(line)].join('\n')}\n`);
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

/** `drover workflows attach <name> --spec f | --golden f [--json]`: exit 0; 2 for a file that does not load or an unknown workflow. */
export async function attachCommand(name: string, flags: GlobalFlags & { spec?: string; golden?: string }): Promise<number> {
  const { store } = openStore(flags, { mustExist: true });
  try {
    const workflow = await attachEvaluation(store, name, {
      ...(flags.spec !== undefined ? { spec: flags.spec } : {}),
      ...(flags.golden !== undefined ? { golden: flags.golden } : {}),
    });
    if (flags.json) printJson({ workflow });
    else
      process.stdout.write(
        `${name}: ${[workflow.specPath ? `spec ${workflow.specPath}` : '', workflow.goldenPath ? `golden ${workflow.goldenPath}` : ''].filter(Boolean).join(', ')} attached\n`,
      );
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

/**
 * `drover workflows promote <name> --tier <tier> [--json]`: exit 0 when granted, 8
 * (`EXIT.gateRefused`) when the gate refused (every missing item listed), 2 for an unknown workflow
 * or tier, or a tier not above the recorded one.
 */
export async function promoteCommand(name: string, flags: GlobalFlags & { tier?: string }): Promise<number> {
  const { store } = openStore(flags, { mustExist: true });
  try {
    const result = await promoteWorkflow(store, name, flags.tier ?? '');
    if (flags.json) printJson(result);
    else {
      const head = result.granted
        ? color.green(`${name}: promoted ${result.from} → ${result.to}`)
        : color.red(
            `${name}: promotion ${result.from} → ${result.to} refused; missing: ${result.gate.missing.map((m) => m.id).join(', ')}`,
          );
      process.stdout.write(`${[head, ...gateLines(result.gate)].join('\n')}\n`);
    }
    return result.granted ? EXIT.ok : EXIT.gateRefused;
  } finally {
    await store.close();
  }
}

/** `drover workflows log [name] [--json]`: the audit rows, oldest first. */
export async function logCommand(name: string | undefined, flags: GlobalFlags): Promise<number> {
  const { store } = openStore(flags, { readOnly: true });
  try {
    const events = await store.workflows.events(name);
    if (flags.json) printJson({ events: events.map((e) => ({ ...e, at: new Date(e.at).toISOString() })) });
    else
      process.stdout.write(
        events.length
          ? `${events.map((e) => `${new Date(e.at).toISOString()}  ${e.kind.padEnd(8)} ${e.name}  by ${e.actor}  ${JSON.stringify(e.details)}`).join('\n')}\n`
          : 'no attachment or promotion recorded yet\n',
      );
    return EXIT.ok;
  } finally {
    await store.close();
  }
}
