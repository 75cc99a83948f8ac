/** @module `drover cost` and `drover usage`: reports from src/budget/reports.ts, printed. */

import { BILLED_MODES, LEDGER_MODES, type LedgerMode } from '../../budget/ledger-types.js';
import {
  type CostGrouping,
  type CostLine,
  type CostReport,
  costReport,
  formatUsd,
  type TokenClassLine,
  type UsageGrouping,
  usageReport,
} from '../../budget/reports.js';
import { parseDuration } from '../../core/duration.js';
import { InputError } from '../../core/errors.js';
import { type GlobalFlags, openStore } from '../context.js';
import { color, EXIT, formatTokens, printJson } from '../output.js';

/** A line's cost: `$1.23`, `$1.23 + 2 unpriced`, or `unpriced`. */
const costText = (usd: number | null, unpriced: number) =>
  usd === null ? color.yellow('unpriced') : unpriced > 0 ? `${formatUsd(usd)} ${color.yellow(`+ ${unpriced} unpriced`)}` : formatUsd(usd);

function table(lines: CostLine[]): string[] {
  const width = Math.min(40, Math.max(8, ...lines.map((l) => l.label.length)));
  return lines.map((l) => {
    const cacheW = l.cacheWrite5mTokens + l.cacheWrite1hTokens;
    const tokens = `${formatTokens(l.inputTokens)} in, ${formatTokens(l.cacheReadTokens)} cache read, ${formatTokens(cacheW)} cache write, ${formatTokens(l.outputTokens)} out`;
    const est = l.estimatedRequests ? color.dim(` (${l.estimatedRequests} estimated)`) : '';
    return `  ${l.label.slice(0, 40).padEnd(width)}  ${costText(l.costUsd, l.unpricedRequests).padEnd(12)}  ${l.requests} req  ${color.dim(tokens)}${est}`;
  });
}

function classTable(lines: TokenClassLine[]): string[] {
  return lines.map((l) => {
    const unit = l.class.startsWith('server:') ? 'uses' : 'tokens';
    const extra = [
      l.reasoningTokens ? `${formatTokens(l.reasoningTokens)} reasoning` : '',
      l.unpricedTokens ? `${formatTokens(l.unpricedTokens)} unpriced` : '',
    ]
      .filter(Boolean)
      .join(', ');
    return `  ${l.class.padEnd(14)}  ${formatUsd(l.costUsd).padEnd(12)}  ${formatTokens(l.tokens)} ${unit}${extra ? color.dim(` (${extra})`) : ''}`;
  });
}

const header = (t: Pick<CostReport, 'totalUsd' | 'requests' | 'unpricedRequests' | 'estimatedRequests' | 'refusedRequests'>) =>
  `${color.bold(t.totalUsd === null ? color.yellow('unpriced') : formatUsd(t.totalUsd))} for ${t.requests} model request${t.requests === 1 ? '' : 's'}` +
  (t.unpricedRequests
    ? color.yellow(` — ${t.unpricedRequests} unpriced (tokens counted, no price: add it under "prices" in drover.config.json)`)
    : '') +
  (t.estimatedRequests ? color.dim(` — ${t.estimatedRequests} estimated (stream cut before the provider's usage)`) : '') +
  (t.refusedRequests ? color.dim(` — ${t.refusedRequests} refused by drover before sending (no cost)`) : '');

/** `drover cost <run> [--by ...] [--json]`. */
export async function costCommand(runId: string, flags: GlobalFlags & { by?: CostGrouping }): Promise<number> {
  const { config, store } = openStore(flags, { mustExist: true });
  try {
    const report = await costReport(store, runId, flags.by ?? 'phase', config.prices);
    if (flags.json) {
      printJson(report);
      return EXIT.ok;
    }
    const out = [`run ${runId}: ${header(report)}`, color.dim(`by ${report.by}:`)];
    if (report.by === 'token-class') out.push(...classTable(report.breakdown));
    else if (report.by === 'request') {
      for (const r of report.breakdown) {
        const flag = r.priceFlag === 'priced' ? '' : color.yellow(` ${r.priceFlag}`);
        out.push(
          `  #${r.id} ${r.startedAt} ${r.model} ${r.agent ?? r.callKey ?? 'unattributed'} ${r.status}${r.refusedBy ? ` refused (${r.refusedBy})` : ''}  ${formatUsd(r.costUsd)}${flag}  ${color.dim(`${formatTokens(r.inputTokens)} in, ${formatTokens(r.outputTokens)} out`)}`,
        );
      }
    } else out.push(...table(report.breakdown));
    process.stdout.write(`${out.join('\n')}\n`);
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

/** `--since`: a duration back from `now`, or a date/time `Date.parse` reads. Throws InputError (exit 2). */
export function parseSince(text: string, now: number): number {
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const at = Date.parse(text);
    if (Number.isNaN(at)) throw new InputError(`--since: "${text}" is not a date (example: 2026-11-01)`);
    return at;
  }
  return now - parseDuration(text, '--since');
}

/**
 * `--mode`: a comma list of ledger modes, `billed` (every mode but sim and replay: what a provider
 * billed) and `all` among them (`billed,sim`). Throws InputError (exit 2) naming an unknown mode.
 */
export function parseModes(text: string): LedgerMode[] {
  const modes = new Set<LedgerMode>();
  for (const m of text.split(',').map((x) => x.trim())) {
    if (m === 'billed') for (const b of BILLED_MODES) modes.add(b);
    else if (m === 'all') for (const b of LEDGER_MODES) modes.add(b);
    else if ((LEDGER_MODES as readonly string[]).includes(m)) modes.add(m as LedgerMode);
    else throw new InputError(`--mode: "${m}" is not a ledger mode (billed, all, or a comma list of ${LEDGER_MODES.join(', ')})`);
  }
  return LEDGER_MODES.filter((m) => modes.has(m));
}

/** `drover usage [--since 7d] [--by workflow|day|model] [--mode billed|all|<list>] [--json]`. */
export async function usageCommand(flags: GlobalFlags & { since?: string; by?: UsageGrouping; mode?: string }): Promise<number> {
  const now = Date.now();
  const since = parseSince(flags.since ?? '7d', now);
  const modes = parseModes(flags.mode ?? 'billed');
  const { store } = openStore(flags, { mustExist: true });
  try {
    const report = await usageReport(store, { since, until: now + 1 }, flags.by ?? 'day', modes);
    if (flags.json) {
      printJson(report);
      return EXIT.ok;
    }
    const out = [`since ${report.since}: ${header(report)}`];
    if (report.notCounted.requests > 0) {
      out.push(
        color.dim(
          `  not counted: ${report.notCounted.requests} request${report.notCounted.requests === 1 ? '' : 's'} in ${report.notCounted.modes.join('/')} mode (${formatUsd(report.notCounted.costUsd)} at list prices, not billed; --mode all counts them)`,
        ),
      );
    }
    if (report.breakdown.length) out.push(color.dim(`by ${report.by}:`), ...table(report.breakdown));
    process.stdout.write(`${out.join('\n')}\n`);
    return EXIT.ok;
  } finally {
    await store.close();
  }
}
