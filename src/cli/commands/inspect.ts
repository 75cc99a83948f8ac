import { answerQuestion, describeRun } from '../../workflow/index.js';
import { type GlobalFlags, openStore } from '../context.js';
import { color, EXIT, formatTokens, printJson } from '../output.js';

export async function runsCommand(flags: GlobalFlags & { limit?: number; status?: string }): Promise<number> {
  const { store } = openStore(flags);
  try {
    const runs = await store.listRuns({ limit: flags.limit ?? 20, ...(flags.status ? { status: flags.status as 'running' } : {}) });
    const rows = await Promise.all(
      runs.map(async (r) => ({
        id: r.id,
        name: r.name,
        status: r.status,
        createdAt: new Date(r.createdAt).toISOString(),
        finishedAt: r.finishedAt ? new Date(r.finishedAt).toISOString() : null,
        usage: await store.usageTotals(r.id),
      })),
    );
    if (flags.json) printJson(rows);
    else if (rows.length === 0) process.stdout.write('no runs yet\n');
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
  const { store } = openStore(flags);
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
      `calls ${d.calls.total} (${d.calls.finished} finished, ${d.calls.failed} failed, ${d.calls.unfinished} unfinished); ${d.usage.requests} model requests, ${formatTokens(d.usage.inputTokens)} in / ${formatTokens(d.usage.outputTokens)} out`,
    );
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
    if (d.error) out.push(`${color.red('error')}: ${d.error.message}`);
    if (d.status === 'completed') out.push(`result: ${JSON.stringify(d.result)}`);
    process.stdout.write(`${out.join('\n')}\n`);
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

export async function answerCommand(runId: string, questionId: string, text: string, flags: GlobalFlags): Promise<number> {
  const { store } = openStore(flags);
  try {
    const q = await answerQuestion(store, runId, questionId, text);
    if (flags.json) printJson(q);
    else process.stdout.write(`answered ${q.id}; continue with: drover resume ${runId}\n`);
    return EXIT.ok;
  } finally {
    await store.close();
  }
}
