/**
 * @module `drover gc` (retention per tier), `drover runs delete <run>` and `drover runs deletions`:
 * the work behind ../commands/retention.ts. Policies: src/redact/retention.ts; store side:
 * src/store/sqlite/retention-store.ts.
 */

import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { actorName } from '../../core/actor.js';
import { expired, retentionFor, type Tier, tierOfRun } from '../../redact/retention.js';
import type { RemovedCounts } from '../../store/retention-types.js';
import { traceIdForRun } from '../../telemetry/traceparent.js';
import { type GlobalFlags, openStore } from '../context.js';
import { color, EXIT, printJson } from '../output.js';

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const countsText = (c: RemovedCounts) =>
  `${plural(c.calls, 'call')}, ${plural(c.spans, 'span')}, ${plural(c.events, 'event')}, ${plural(c.questions, 'question')}; ${plural(c.ledgerAnonymised, 'ledger row')} kept as figures`;

interface GcRunAction {
  runId: string;
  name: string;
  tier: Tier;
  action: 'delete' | 'drop-content';
  ageDays: number;
  counts?: RemovedCounts;
}

/** A cassette file's recording time, or undefined when the file is not a drover cassette. */
function recordedAt(file: string): number | undefined {
  try {
    const c = JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown; hash?: unknown; key?: unknown; recordedAt?: unknown };
    if (typeof c.version !== 'number' || typeof c.hash !== 'string' || c.key === undefined) return undefined;
    const at = typeof c.recordedAt === 'string' ? Date.parse(c.recordedAt) : Number.NaN;
    return Number.isNaN(at) ? statSync(file).mtimeMs : at;
  } catch {
    return undefined;
  }
}

/**
 * `drover gc [--dry-run] [--json]`: for every run not driven by a live process, its tier's policy
 * (config `retention` over drover's defaults): runs older than `runsDays` are deleted (ledger figures
 * kept), runs older than `contentDays` lose their content, cassette files the runs recorded older than
 * `cassettesDays` are removed. Age counts from when the run finished (else its last update).
 */
export async function gcCommand(flags: GlobalFlags & { dryRun?: boolean }): Promise<number> {
  const { store, config } = openStore(flags, { mustExist: true });
  try {
    const now = Date.now();
    const who = actorName();
    const actions: GcRunAction[] = [];
    const skipped: string[] = [];
    /** Recording dirs with the shortest cassette retention of the runs that recorded into them. */
    const cassetteDirs = new Map<string, number | null>();
    for (const run of await store.retention.runs()) {
      const tier = tierOfRun(run.settings);
      const policy = retentionFor(tier, config.retention);
      const cassettes = (run.settings as { cassettes?: { mode?: string; dir?: string } } | null)?.cassettes;
      if (cassettes?.mode === 'record' && typeof cassettes.dir === 'string') {
        const before = cassetteDirs.get(cassettes.dir);
        const days = policy.cassettesDays;
        cassetteDirs.set(
          cassettes.dir,
          before === undefined ? days : before === null ? days : days === null ? before : Math.min(before, days),
        );
      }
      const age = now - (run.finishedAt ?? run.updatedAt);
      const action = expired(age, policy.runsDays)
        ? 'delete'
        : expired(age, policy.contentDays) && run.contentDroppedAt === null
          ? 'drop-content'
          : null;
      if (!action) continue;
      if (run.leaseExpiresAt !== null && run.leaseExpiresAt > now) {
        skipped.push(run.id);
        continue;
      }
      const item: GcRunAction = { runId: run.id, name: run.name, tier, action, ageDays: Math.floor(age / 86_400_000) };
      if (!flags.dryRun) {
        item.counts =
          action === 'delete'
            ? await store.retention.deleteRun(run.id, { now, actor: who, kind: 'gc-run', traceIdOf: traceIdForRun })
            : await store.retention.dropContent(run.id, now, who, traceIdForRun);
      }
      actions.push(item);
    }
    const cassetteFiles: string[] = [];
    for (const [dir, days] of cassetteDirs) {
      if (days === null) continue;
      let names: string[];
      try {
        names = readdirSync(dir).filter((n) => n.endsWith('.json'));
      } catch {
        continue;
      }
      for (const name of names) {
        const file = join(dir, name);
        const at = recordedAt(file);
        if (at === undefined || !expired(now - at, days)) continue;
        cassetteFiles.push(file);
        if (!flags.dryRun) rmSync(file, { force: true });
      }
    }
    if (flags.json) printJson({ dryRun: flags.dryRun === true, runs: actions, cassettes: cassetteFiles, skipped });
    else {
      const verb = flags.dryRun ? 'would ' : '';
      const out = actions.map(
        (a) =>
          `${a.action === 'delete' ? `${verb}delete` : `${verb}drop content of`} ${a.runId}  ${a.tier}  ${a.ageDays}d  ${a.name}${a.counts ? `: ${countsText(a.counts)}` : ''}`,
      );
      for (const f of cassetteFiles) out.push(`${verb}remove cassette ${f}`);
      for (const id of skipped) out.push(color.dim(`kept ${id}: a live process is driving it`));
      if (out.length === 0) out.push('nothing is past its retention');
      else if (flags.dryRun) out.push('(dry run: nothing changed)');
      process.stdout.write(`${out.join('\n')}\n`);
    }
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

/**
 * `drover runs delete <run> [--yes] [--json]`: a deletion request. Without --yes, says what would be
 * removed; with it, removes the run's calls, questions, events, spans and run row in one transaction,
 * keeps its ledger rows' figures (labels cleared) and records the deletion (run, when, OS user, counts).
 * @throws NotFoundError (exit 2) for an unknown run; RunLeaseError (exit 5) while a live process drives it.
 */
export async function runsDeleteCommand(runId: string, flags: GlobalFlags & { yes?: boolean }): Promise<number> {
  const { store } = openStore(flags, { mustExist: true });
  try {
    const counts = await store.retention.deleteRun(runId, {
      now: Date.now(),
      actor: actorName(),
      kind: 'delete',
      traceIdOf: traceIdForRun,
      dryRun: !flags.yes,
    });
    if (flags.json) printJson({ runId, deleted: flags.yes === true, ...counts });
    else if (!flags.yes) process.stdout.write(`would delete run ${runId}: ${countsText(counts)}; add --yes to delete it\n`);
    else process.stdout.write(`deleted run ${runId}: ${countsText(counts)}\n`);
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

/** `drover runs deletions [--json]`: the deletions log (what was removed, when, by whom). */
export async function deletionsCommand(flags: GlobalFlags & { limit?: number }): Promise<number> {
  const { store } = openStore(flags, { readOnly: true });
  try {
    const rows = await store.retention.deletions(flags.limit ?? 1000);
    if (flags.json) printJson(rows);
    else if (rows.length === 0) process.stdout.write('no deletions recorded\n');
    else
      process.stdout.write(
        `${rows.map((d) => `${new Date(d.at).toISOString()}  ${d.kind.padEnd(10)}  ${d.runId}  by ${d.actor}: ${countsText(d.counts)}`).join('\n')}\n`,
      );
    return EXIT.ok;
  } finally {
    await store.close();
  }
}
