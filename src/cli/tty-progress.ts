/** @module The live progress tree of a run on a terminal (loaded only when stderr is a TTY). */
import { createLogUpdate } from 'log-update';
import type { LimitSnapshot } from '../gateway/rate-limit/limiter.js';
import type { ProgressEvent } from '../workflow/events.js';
import { describeLimit } from '../workflow/rate-limit-watch.js';
import { color, formatDuration, formatTokens } from './output.js';
import type { ProgressRenderer } from './progress.js';

/** What the tree draws on: stderr, or a stand-in in tests. */
export interface TreeStream {
  write(text: string): unknown;
  readonly rows?: number | undefined;
  readonly columns?: number | undefined;
}

/** Used when the terminal reports no size, or 0 (some CI terminals, `docker exec` without a size, serial consoles). */
export const FALLBACK_SIZE = { rows: 24, columns: 80 } as const;

/** The terminal's size, with FALLBACK_SIZE for a dimension it does not report or reports as 0. */
export function terminalSize(stream: TreeStream): { rows: number; columns: number } {
  const sane = (n: number | undefined, fallback: number) => (n !== undefined && Number.isFinite(n) && n > 0 ? n : fallback);
  return { rows: sane(stream.rows, FALLBACK_SIZE.rows), columns: sane(stream.columns, FALLBACK_SIZE.columns) };
}

interface AgentLine {
  label: string;
  state: string;
  tokens: number;
  startedAt: number;
  tools: number;
  lastTool: string;
}

/** A live tree on a TTY: phases, their agents with state, counts and elapsed time. */
export function ttyProgress(stream: TreeStream = process.stderr): ProgressRenderer {
  // log-update sizes the frame from `rows`/`columns`; a terminal reporting 0 rows made it drop every line.
  const draw = createLogUpdate({
    write: (text: string) => stream.write(text),
    get rows() {
      return terminalSize(stream).rows;
    },
    get columns() {
      return terminalSize(stream).columns;
    },
  } as unknown as NodeJS.WriteStream);
  const started = Date.now();
  let title = '';
  /** The latest cap warning (50/80/100%), kept under the header. */
  let budget: { message: string; share: number } | undefined;
  /** Providers' limits the run's gateway is pacing to (429s, lowered concurrency). */
  let limits: LimitSnapshot[] = [];
  const phases: string[] = [];
  const byPhase = new Map<string, Map<string, AgentLine>>();
  const logs: string[] = [];
  const counts = { running: 0, done: 0, failed: 0, reused: 0, waiting: 0 };
  const spinner = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  let frame = 0;
  const phaseOf = (p: string | null) => {
    const name = p ?? '(no phase)';
    if (!byPhase.has(name)) {
      byPhase.set(name, new Map());
      if (!phases.includes(name)) phases.push(name);
    }
    return byPhase.get(name) as Map<string, AgentLine>;
  };
  const render = () => {
    frame++;
    const lines = [
      `${color.bold(title)}  ${formatDuration(Date.now() - started)}  ${color.green(`${counts.done} done`)} · ${counts.running} running · ${counts.reused} reused${counts.failed ? ` · ${color.red(`${counts.failed} failed`)}` : ''}${counts.waiting ? ` · ${color.yellow(`${counts.waiting} waiting`)}` : ''}`,
    ];
    if (budget) lines.push(`  ${(budget.share >= 1 ? color.red : color.yellow)(budget.message)}`);
    for (const l of limits) lines.push(`  ${color.yellow(`rate limit: ${describeLimit(l)}`)}`);
    for (const name of phases.slice(-6)) {
      const agents = [...(byPhase.get(name)?.values() ?? [])];
      const done = agents.filter((a) => a.state !== 'running').length;
      const active = agents.filter((a) => a.state === 'running');
      lines.push(`  ${active.length ? spinner[frame % spinner.length] : '✓'} ${name} ${color.dim(`${done}/${agents.length}`)}`);
      for (const a of active.slice(0, 8))
        lines.push(
          `      ${color.dim('…')} ${a.label} ${color.dim(formatDuration(Date.now() - a.startedAt))}${a.tools ? color.dim(`  ${a.tools} tools · ${a.lastTool}`) : ''}`,
        );
      if (active.length > 8) lines.push(color.dim(`      … and ${active.length - 8} more`));
    }
    for (const l of logs.slice(-3)) lines.push(color.dim(`  log: ${l}`));
    // Keep the header (title, counts) and the newest lines when the tree is taller than the terminal.
    const room = Math.max(1, terminalSize(stream).rows - 1);
    draw((lines.length > room ? [lines[0] as string, ...lines.slice(lines.length - room + 1)] : lines).join('\n'));
  };
  const timer = setInterval(render, 120);
  timer.unref();
  const listener = (e: ProgressEvent) => {
    if (e.type === 'run') title = `${e.name} (${e.runId})`;
    else if (e.type === 'phase') phaseOf(e.title);
    else if (e.type === 'log') logs.push(e.message);
    else if (e.type === 'budget') budget = { message: e.message, share: e.share };
    else if (e.type === 'rate_limit') limits = e.limits;
    else if (e.type === 'activity') {
      for (const agents of byPhase.values()) {
        const a = agents.get(e.key);
        if (a) {
          a.tools++;
          a.lastTool = `${e.tool} ${e.summary.split('\n')[0]?.slice(0, 40) ?? ''}`;
        }
      }
    } else if (e.type === 'call' && e.kind !== 'sleep') {
      const agents = phaseOf(e.phase);
      const prev = agents.get(e.key);
      if (prev?.state === 'running') counts.running--;
      if (e.state === 'running') counts.running++;
      else if (e.state in counts) counts[e.state as keyof typeof counts]++;
      agents.set(e.key, {
        label: e.label,
        state: e.state,
        tokens: (e.outputTokens ?? 0) + (e.inputTokens ?? 0),
        startedAt: prev?.startedAt ?? e.at,
        tools: prev?.tools ?? 0,
        lastTool: prev?.lastTool ?? '',
      });
    }
  };
  return {
    listener,
    stop: () => {
      clearInterval(timer);
      render();
      draw.done();
      const total = [...byPhase.values()].reduce((n, m) => n + [...m.values()].reduce((t, a) => t + a.tokens, 0), 0);
      if (total > 0) stream.write(color.dim(`tokens this session: ${formatTokens(total)}\n`));
    },
  };
}
