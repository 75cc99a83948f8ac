import { logUpdateStderr } from 'log-update';
import type { ProgressEvent, ProgressListener } from '../workflow/index.js';
import { color, formatDuration, formatTokens } from './output.js';

export interface ProgressRenderer {
  listener: ProgressListener;
  stop(): void;
}

/** Plain lines (CI, pipes, --json): one line per event that matters. */
export function plainProgress(write: (line: string) => void): ProgressRenderer {
  const listener = (e: ProgressEvent) => {
    switch (e.type) {
      case 'run':
        return write(`run ${e.runId} ${e.state}: ${e.name}`);
      case 'phase':
        return write(`phase ${e.title}`);
      case 'log':
        return write(`log ${e.message}`);
      case 'retry':
        return write(`retry ${e.label} attempt ${e.attempt} in ${e.delayMs}ms: ${e.reason}`);
      case 'activity':
        return write(`tool ${e.label} ${e.tool}${e.ok ? '' : ' failed'}: ${e.summary.split('\n')[0]?.slice(0, 100) ?? ''}`);
      case 'call':
        if (e.state === 'running' && e.kind !== 'agent') return;
        return write(
          `${e.kind} ${e.state} ${e.label}${e.outputTokens !== undefined ? ` (${e.inputTokens ?? 0} in / ${e.outputTokens} out)` : ''}${e.error ? `: ${e.error}` : ''}`,
        );
    }
  };
  return { listener, stop: () => {} };
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
export function ttyProgress(): ProgressRenderer {
  const started = Date.now();
  let title = '';
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
    logUpdateStderr(lines.join('\n'));
  };
  const timer = setInterval(render, 120);
  timer.unref();
  const listener = (e: ProgressEvent) => {
    if (e.type === 'run') title = `${e.name} (${e.runId})`;
    else if (e.type === 'phase') phaseOf(e.title);
    else if (e.type === 'log') logs.push(e.message);
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
      logUpdateStderr.done();
      const total = [...byPhase.values()].reduce((n, m) => n + [...m.values()].reduce((t, a) => t + a.tokens, 0), 0);
      if (total > 0) process.stderr.write(color.dim(`tokens this session: ${formatTokens(total)}\n`));
    },
  };
}
