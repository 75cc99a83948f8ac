/**
 * @module A run's call graph as a DAG: the run, its phases in the order they began, and each
 * phase's calls fanned out under it (calls run in a phase are siblings; the next phase follows them).
 * Nodes carry the call's state for colouring. The journal keeps no branch path readable, so
 * parallel and pipeline structure inside a phase shows as one fan-out.
 */
import type { Store } from '../store/index.js';
import { type DagLayout, layoutDag } from './layout.js';
import { callTree } from './runs.js';

/** Throws NotFoundError for an unknown run. Phases with more than `maxPerPhase` calls show the rest as one "+N more" node. */
export async function callGraph(store: Store, runId: string, maxPerPhase = 60): Promise<DagLayout> {
  const tree = await callTree(store, runId);
  const nodes: { id: string; label: string; data: Record<string, unknown> }[] = [
    { id: 'run', label: 'run', data: { kind: 'run', state: tree.status } },
  ];
  const edges: { from: string; to: string }[] = [];
  let previous: string[] = ['run'];
  tree.phases.forEach((phase, i) => {
    const id = `phase:${i}`;
    const state = phase.failed ? 'failed' : phase.running ? 'running' : phase.done === phase.calls.length ? 'done' : 'pending';
    nodes.push({ id, label: phase.title ?? '(no phase)', data: { kind: 'phase', state } });
    for (const p of previous) edges.push({ from: p, to: id });
    const shown = phase.calls.slice(0, maxPerPhase);
    for (const c of shown) {
      nodes.push({
        id: c.key,
        label: `${c.kind === 'agent' ? '' : `${c.kind} `}${c.label}`.slice(0, 36),
        data: { kind: c.kind, state: c.state, key: c.key },
      });
      edges.push({ from: id, to: c.key });
    }
    const rest = phase.calls.length - shown.length;
    if (rest > 0) {
      nodes.push({ id: `${id}:more`, label: `+${rest} more`, data: { kind: 'more', state: 'pending' } });
      edges.push({ from: id, to: `${id}:more` });
    }
    previous = shown.length > 0 ? [...shown.map((c) => c.key), ...(rest > 0 ? [`${id}:more`] : [])] : [id];
  });
  return layoutDag(nodes, edges);
}
