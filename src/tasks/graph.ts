import type { TaskRecord } from '../store/index.js';

/** Renders a list as a dependency graph: edges point from a blocker to what it unblocks. */

const MARK: Record<TaskRecord['status'], string> = { pending: ' ', in_progress: '~', completed: 'x', cancelled: '-' };

export function toMermaid(tasks: TaskRecord[]): string {
  const lines = ['graph TD'];
  for (const t of tasks) lines.push(`  t${safe(t.id)}["#${t.id} ${escapeLabel(t.subject)} (${t.status})"]`);
  for (const t of tasks) for (const b of t.blockedBy) lines.push(`  t${safe(b)} --> t${safe(t.id)}`);
  return lines.join('\n');
}

export function toDot(tasks: TaskRecord[]): string {
  const lines = ['digraph tasks {', '  rankdir=LR;'];
  for (const t of tasks) lines.push(`  "${t.id}" [label="#${t.id} ${escapeLabel(t.subject)}\\n${t.status}"];`);
  for (const t of tasks) for (const b of t.blockedBy) lines.push(`  "${b}" -> "${t.id}";`);
  lines.push('}');
  return lines.join('\n');
}

/** An ASCII forest: roots are tasks nothing blocks; a task with several blockers appears under each, marked after the first. */
export function toAsciiTree(tasks: TaskRecord[]): string {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const printed = new Set<string>();
  const out: string[] = [];
  const walk = (t: TaskRecord, prefix: string, last: boolean, depth: number) => {
    const connector = depth === 0 ? '' : last ? '└─ ' : '├─ ';
    const again = printed.has(t.id);
    out.push(`${prefix}${connector}[${MARK[t.status]}] #${t.id} ${t.subject}${t.owner ? ` (${t.owner})` : ''}${again ? ' ↑' : ''}`);
    if (again) return;
    printed.add(t.id);
    const children = t.blocks.map((id) => byId.get(id)).filter((x): x is TaskRecord => !!x);
    for (const [i, c] of children.entries())
      walk(c, depth === 0 ? prefix : prefix + (last ? '   ' : '│  '), i === children.length - 1, depth + 1);
  };
  for (const t of tasks.filter((x) => x.blockedBy.length === 0)) walk(t, '', true, 0);
  return out.join('\n');
}

function safe(id: string): string {
  return id.replace(/[^A-Za-z0-9_]/g, '_');
}

function escapeLabel(text: string): string {
  return text.replace(/["\\]/g, "'").replace(/\n/g, ' ');
}
