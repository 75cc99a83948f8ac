import type { RunCaps } from '../../budget/caps.js';
import { formatUsd } from '../../budget/reports.js';
import { actorName } from '../../core/actor.js';
import { parseDuration } from '../../core/duration.js';
import type { RunListing, RunStatus, UsageTotals } from '../../store/types.js';
import { traceIdForRun } from '../../telemetry/traceparent.js';
import { answerQuestion, describeRun, type RunState, runState } from '../../workflow/inspect.js';
import { type GlobalFlags, openStore } from '../context.js';
import { color, EXIT, formatTokens, printJson } from '../output.js';

/** `cost $0.42 (+ 2 unpriced requests), cache hits 63% of input` — unpriced is never shown as $0. */
function costLine(runId: string, u: UsageTotals): string {
  const cost = u.costUsd === null ? color.yellow('unpriced') : formatUsd(u.costUsd);
  const unpriced = u.costUsd !== null && u.unpricedRequests > 0 ? color.yellow(` (+ ${u.unpricedRequests} unpriced requests)`) : '';
  const hits = u.cacheHitRatio === null ? '' : `, cache hits ${Math.round(u.cacheHitRatio * 100)}% of input`;
  return `cost ${cost}${unpriced}${hits}; details: drover cost ${runId} --by phase|agent|model`;
}

/**
 * The stored status to pre-filter a listing by for a shown state: `interrupted` is stored as running;
 * `queued` as queued or (a pooled run whose worker is gone) running, so it is not pre-filtered.
 */
/**
 * `caps: run $5 (spent $1.23, 25%), 2M output tokens (spent 120k, 6%); per agent $0.5; phase "build" $2`
 * — the run's own caps and how much of the run-wide ones is spent; null without caps.
 */
function capsLine(caps: RunCaps | undefined, u: UsageTotals): string | null {
  if (!caps) return null;
  const share = (spent: number, limit: number) => (limit > 0 ? `, ${Math.round((100 * spent) / limit)}%` : '');
  const parts: string[] = [];
  if (caps.usd !== undefined)
    parts.push(`run ${formatUsd(caps.usd)} (spent ${formatUsd(u.costUsd ?? 0)}${share(u.costUsd ?? 0, caps.usd)})`);
  if (caps.tokens !== undefined) {
    parts.push(
      `run ${formatTokens(caps.tokens)} output tokens (spent ${formatTokens(u.outputTokens)}${share(u.outputTokens, caps.tokens)})`,
    );
  }
  if (caps.perAgentUsd !== undefined) parts.push(`per agent ${formatUsd(caps.perAgentUsd)}`);
  for (const [title, c] of Object.entries(caps.perPhase ?? {})) {
    const limits = [c.usd !== undefined ? formatUsd(c.usd) : '', c.tokens !== undefined ? `${formatTokens(c.tokens)} output tokens` : '']
      .filter(Boolean)
      .join(' / ');
    parts.push(`phase "${title}" ${limits}`);
  }
  return parts.length ? `caps: ${parts.join('; ')}` : null;
}

function storedStatusFor(state: RunState | undefined): RunStatus | undefined {
  if (state === 'interrupted') return 'running';
  if (state === 'queued') return undefined;
  return state;
}

/** `drover runs`: recent runs, newest first. `--status` was checked by the flag parser. */
export async function runsCommand(flags: GlobalFlags & { limit?: number; status?: RunState }): Promise<number> {
  const { store } = openStore(flags, { readOnly: true });
  try {
    const stored = storedStatusFor(flags.status);
    const limit = flags.limit ?? 20;
    // States derived from the lease (interrupted, queued) are filtered here, on every candidate.
    const derived = flags.status !== undefined && stored !== flags.status;
    const runs = (
      await store.listRuns({
        limit: derived || stored === 'running' ? Number.MAX_SAFE_INTEGER : limit,
        ...(stored ? { status: stored } : {}),
      })
    )
      .filter((r) => !flags.status || runState(r) === flags.status)
      .slice(0, limit);
    const rows = await Promise.all(
      runs.map(async (r) => ({
        id: r.id,
        name: r.name,
        status: runState(r),
        createdAt: new Date(r.createdAt).toISOString(),
        finishedAt: r.finishedAt ? new Date(r.finishedAt).toISOString() : null,
        resultBytes: r.resultBytes,
        usage: await store.usageTotals(r.id),
      })),
    );
    if (flags.json) printJson(rows);
    else if (rows.length === 0) process.stdout.write(flags.status ? `no ${flags.status} runs\n` : 'no runs yet\n');
    else {
      for (const r of rows) {
        process.stdout.write(
          `${r.id}  ${r.status.padEnd(9)}  ${r.name}  ${color.dim(`${r.usage.requests} requests, ${formatTokens(r.usage.outputTokens)} out`)}\n`,
        );
      }
    }
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

export async function statusCommand(runId: string, flags: GlobalFlags): Promise<number> {
  const { store } = openStore(flags, { readOnly: true });
  try {
    const d = await describeRun(store, runId);
    if (flags.json) {
      printJson(d);
      return EXIT.ok;
    }
    const out: string[] = [];
    out.push(`${color.bold(d.name)} (${d.id}) — ${d.status}${d.driver ? `, driven by pid ${d.driver.pid} on ${d.driver.host}` : ''}`);
    out.push(`script ${d.script}; backend ${d.settings.backend}, model ${d.settings.model}, concurrency ${d.settings.concurrency}`);
    out.push(
      `calls ${d.calls.total} (${d.calls.finished} finished, ${d.calls.failed} failed, ${d.calls.unfinished} unfinished); ${d.usage.requests} model requests${d.usage.refusedRequests ? ` (${d.usage.refusedRequests} refused by drover before sending)` : ''}, ${formatTokens(d.usage.inputTokens)} in / ${formatTokens(d.usage.outputTokens)} out`,
    );
    if (d.usage.requests > 0) out.push(costLine(d.id, d.usage));
    const caps = capsLine(d.settings.caps, d.usage);
    if (caps) out.push(caps);
    for (const p of d.phases) {
      out.push(
        `  ${p.title}: ${p.done}/${p.agents} done${p.failed ? `, ${color.red(`${p.failed} failed`)}` : ''}${p.running ? `, ${p.running} running` : ''}`,
      );
    }
    for (const a of d.agents.filter((x) => x.state !== 'done').slice(0, 20)) {
      out.push(`    ${a.state === 'failed' ? color.red('✗ failed') : a.state} ${a.label}${a.error ? `: ${a.error}` : ''}`);
    }
    for (const a of d.agents) {
      const wt = a.detail?.worktree as { branch?: string; commit?: string | null; changed?: boolean } | undefined;
      if (wt?.changed) out.push(`    ${a.label}: changes on branch ${wt.branch} at ${String(wt.commit).slice(0, 12)}`);
    }
    for (const q of d.questions.filter((x) => x.status === 'pending')) {
      out.push(`${color.yellow('question')} ${q.id}: ${q.question}${q.choices ? ` [${q.choices.join(' | ')}]` : ''}`);
    }
    for (const w of d.warnings) out.push(`${color.yellow('warning')}: ${w}`);
    for (const p of d.policy) {
      const what = p.kind === 'deny' ? color.red('denied') : p.kind === 'approval_request' ? color.yellow('approval asked') : 'approval';
      const answer = p.kind === 'approval' ? ` ${p.answer === 'approve' ? 'approved' : `answered "${p.answer}"`} by ${p.by}` : '';
      out.push(
        `${color.bold('policy')} ${what} ${p.attempted} [${p.ruleIds.join(', ')}]${answer}${p.questionId ? ` (${p.questionId})` : ''}`,
      );
    }
    if (d.status === 'interrupted') out.push(`its driver is gone: continue it with drover resume ${d.id}`);
    if (d.error) out.push(`${color.red('error')}: ${d.error.message}`);
    if (d.status === 'completed') out.push(`result: ${JSON.stringify(d.result)}`);
    process.stdout.write(`${out.join('\n')}\n`);
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

export async function answerCommand(runId: string, questionId: string, text: string, flags: GlobalFlags): Promise<number> {
  const { store } = openStore(flags, { mustExist: true });
  try {
    const q = await answerQuestion(store, runId, questionId, text);
    if (flags.json) printJson(q);
    else process.stdout.write(`answered ${q.id}; continue with: drover resume ${runId}\n`);
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

/**
 * `drover runs prune [--status s] [--older-than 7d] [--yes]`: without --yes, lists the runs that
 * match; with it, deletes them and all that is theirs in one transaction (Store.deleteRuns), never
 * a run whose lease is live. Prints what was removed.
 */
export async function pruneCommand(flags: GlobalFlags & { status?: RunState; olderThan?: string; yes?: boolean }): Promise<number> {
  const cutoff = flags.olderThan === undefined ? undefined : Date.now() - parseDuration(flags.olderThan, '--older-than');
  const { store } = openStore(flags, { mustExist: true });
  try {
    const now = Date.now();
    const matching: RunListing[] = [];
    const live: RunListing[] = [];
    const stored = storedStatusFor(flags.status);
    for (const r of await store.listRuns({ limit: Number.MAX_SAFE_INTEGER, ...(stored ? { status: stored } : {}) })) {
      if (flags.status && runState(r, now) !== flags.status) continue;
      if (cutoff !== undefined && r.createdAt >= cutoff) continue;
      (r.lease && r.lease.expiresAt > now ? live : matching).push(r);
    }
    const what = [flags.status ? `status ${flags.status}` : '', flags.olderThan ? `older than ${flags.olderThan}` : '']
      .filter(Boolean)
      .join(', ');
    if (!flags.yes) {
      if (flags.json) printJson({ wouldDelete: matching.map((r) => r.id), live: live.map((r) => r.id) });
      else {
        const out = matching.map((r) => `${r.id}  ${r.status.padEnd(9)}  ${new Date(r.createdAt).toISOString()}  ${r.name}`);
        out.push(
          matching.length
            ? `${matching.length} run${matching.length === 1 ? '' : 's'} would be deleted${what ? ` (${what})` : ''}; add --yes to delete them`
            : `no runs to prune${what ? ` (${what})` : ''}`,
        );
        for (const r of live) out.push(color.dim(`kept ${r.id}: a live process (pid ${r.lease?.pid}) is driving it`));
        process.stdout.write(`${out.join('\n')}\n`);
      }
      return EXIT.ok;
    }
    const removed = await store.deleteRuns(
      matching.map((r) => r.id),
      Date.now(),
      traceIdForRun,
      actorName(),
    );
    const skipped = [...live.map((r) => r.id), ...removed.skipped];
    if (flags.json) printJson({ ...removed, skipped });
    else {
      const n = removed.runs.length;
      const out = [
        `deleted ${n} run${n === 1 ? '' : 's'}${what ? ` (${what})` : ''}: ${removed.calls} calls, ${removed.questions} questions, ${removed.events} events, ${removed.spans} spans; ${removed.usage} ledger rows kept as figures (drover runs deletions logs it)`,
      ];
      for (const id of removed.runs) out.push(`  ${id}`);
      for (const id of skipped) out.push(color.dim(`kept ${id}: a live process is driving it`));
      process.stdout.write(`${out.join('\n')}\n`);
    }
    return EXIT.ok;
  } finally {
    await store.close();
  }
}
