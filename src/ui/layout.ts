/** @module DAG layout for the page (call graph, task board), done on the server with @dagrejs/dagre (MIT), so the page only draws. */
import { Graph, layout } from '@dagrejs/dagre';

export interface DagNodeIn {
  id: string;
  /** Text shown in the box; its length sets the box's width. */
  label: string;
  /** Free data the page colours by (state, owner...). */
  data?: Record<string, unknown>;
}

export interface DagNode extends DagNodeIn {
  /** Centre of the box and its size, in px. */
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface DagEdge {
  from: string;
  to: string;
  /** The edge's polyline, in px. */
  points: { x: number; y: number }[];
}

export interface DagLayout {
  width: number;
  height: number;
  nodes: DagNode[];
  edges: DagEdge[];
}

/** Lays out nodes and edges top to bottom; an edge naming an unknown node is dropped. */
export function layoutDag(nodes: DagNodeIn[], edges: { from: string; to: string }[], direction: 'TB' | 'LR' = 'TB'): DagLayout {
  const g = new Graph();
  g.setGraph({ rankdir: direction, nodesep: 16, ranksep: 36, marginx: 8, marginy: 8 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) g.setNode(n.id, { width: Math.min(260, 24 + 7 * n.label.length), height: 30 });
  const known = new Set(nodes.map((n) => n.id));
  const kept = edges.filter((e) => known.has(e.from) && known.has(e.to) && e.from !== e.to);
  for (const e of kept) g.setEdge(e.from, e.to);
  layout(g);
  const size = g.graph();
  return {
    width: Math.ceil(size.width ?? 0),
    height: Math.ceil(size.height ?? 0),
    nodes: nodes.map((n) => {
      const p = g.node(n.id);
      return { ...n, x: p.x, y: p.y, width: p.width, height: p.height };
    }),
    edges: kept.map((e) => ({
      from: e.from,
      to: e.to,
      points: (g.edge(e.from, e.to)?.points ?? []).map((q: { x: number; y: number }) => ({ x: q.x, y: q.y })),
    })),
  };
}
