/**
 * @module What earlier executions of a run left in its trace, read when an execution starts: which
 * of drover's spans exist, which were started and never ended (a `kill -9`), and the spans that
 * close them. Pure: the caller reads the journal and the spans; nothing here does I/O.
 */
import type { Attributes, CallRecord, StoredSpan } from '../store/index.js';
import { DROVER, GENAI } from './genai.js';
import { callSpanIdForRun, phaseSpanIdForRun, rootSpanIdForRun } from './run-span-ids.js';
import { traceIdForRun } from './traceparent.js';

/** Attributes of drover's spans about executions (see docs/tracing.md, "Resumed runs"). */
export const EXECUTION = {
  /** On an `execution <n>` span: `running` while it runs, then `completed | failed | waiting | interrupted`. */
  state: 'drover.execution.state',
  /** On the root: how many executions the run has had. */
  count: 'drover.executions',
  /** On a call span closed because its execution died: the call never ended. */
  interrupted: 'drover.call.interrupted',
  /** On a call span that ran again after an earlier attempt was interrupted or failed. */
  rerun: 'drover.call.rerun',
  /** On an earlier attempt moved under the call span that re-ran it (named `earlier attempt (…)`). */
  superseded: 'drover.attempt.superseded',
} as const;

/** Call kinds that have a span of their own (others are values or run inside the script). */
const SPAN_KINDS = new Set(['agent', 'sh']);

/** The span name of a call (as src/workflow/tracing.ts names it). */
export function callSpanName(call: Pick<CallRecord, 'kind' | 'label'>): string {
  return call.kind === 'agent' ? `invoke_agent ${call.label ?? 'agent'}` : `${call.kind} ${call.label ?? ''}`.trimEnd();
}

/** What an execution knows about the trace earlier executions wrote. */
export interface RunTraceHistory {
  /** This execution's number: one more than the highest `execution <n>` span stored. */
  execution: number;
  /**
   * Spans to write (each replacing its id) before anything runs: executions left `running` closed as
   * `interrupted`, calls started and never ended closed with `drover.call.interrupted`, and the
   * phases and root those hang under when no execution wrote them.
   */
  closing: StoredSpan[];
  /** Ids of drover's spans of the run already stored (closing ones included): a new record replaces them. */
  stored: Set<string>;
  /** Call keys with a span in the trace: a call served from the journal adds no second one. */
  callKeysWithSpan: Set<string>;
  /** Earlier attempts (interrupted, stopped or failed) of each call that has not finished, by call key. */
  earlierAttempts: Map<string, StoredSpan[]>;
  /** Time ranges (µs) of the stored phase spans, by title. */
  phases: Map<string, { startUs: number; endUs: number }>;
  /** Time range (µs) of the stored root span. */
  root: { startUs: number; endUs: number } | undefined;
}

/** The history of a run with nothing stored yet (a fresh `drover run`). */
export function emptyHistory(): RunTraceHistory {
  return {
    execution: 1,
    closing: [],
    stored: new Set(),
    callKeysWithSpan: new Set(),
    earlierAttempts: new Map(),
    phases: new Map(),
    root: undefined,
  };
}

/** A span as plain data (a span read from the store parses its attributes lazily and keeps its row text). */
function plain(s: StoredSpan): StoredSpan {
  const data = (s as StoredSpan & { toJSON?: () => StoredSpan }).toJSON?.() ?? s;
  const { rowId: _row, ...rest } = data;
  return { ...rest, attributes: { ...s.attributes }, events: [...s.events] };
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/**
 * Reads what earlier executions of run `runId` left: `calls` is its journal, `spans` the spans of
 * its trace (received ones may be among them; only drover's own — scope `drover`, this run — count).
 */
export function readRunHistory(input: {
  runId: string;
  workflowName: string;
  createdAt: number;
  calls: CallRecord[];
  spans: StoredSpan[];
}): RunTraceHistory {
  const { runId } = input;
  const traceId = traceIdForRun(runId);
  const rootId = rootSpanIdForRun(runId);
  const own = input.spans.filter((s) => s.scope === 'drover' && s.runId === runId && s.traceId === traceId);
  const byId = new Map<string, StoredSpan>();
  for (const s of own) byId.set(s.spanId, s);
  const h = emptyHistory();
  for (const id of byId.keys()) h.stored.add(id);

  // Executions: the next number, and when each one was last seen doing something.
  const executions = own
    .filter((s) => typeof s.attributes[EXECUTION.state] === 'string')
    .map((s) => ({ span: s, n: num(s.attributes[DROVER.execution]) ?? 0 }))
    .sort((a, b) => a.span.startUs - b.span.startUs);
  h.execution = executions.reduce((m, e) => Math.max(m, e.n), 0) + 1;
  const lastSeen = new Map<number, number>();
  const see = (n: number, us: number) => lastSeen.set(n, Math.max(lastSeen.get(n) ?? 0, us));
  /** The execution that was running at time `us` (the latest that started before it). */
  const executionAt = (us: number): number | undefined => {
    let found: number | undefined;
    for (const e of executions) if (e.span.startUs <= us) found = e.n;
    return found;
  };
  let latestUs = input.createdAt * 1000;
  for (const s of own) {
    latestUs = Math.max(latestUs, s.endUs);
    const n = num(s.attributes[DROVER.execution]);
    if (n !== undefined) see(n, s.endUs);
  }
  for (const c of input.calls) {
    for (const t of [c.startedAt, c.finishedAt]) {
      if (t === null) continue;
      latestUs = Math.max(latestUs, t * 1000);
      const n = executionAt(t * 1000);
      if (n !== undefined) see(n, t * 1000);
    }
  }
  const endOf = (n: number | undefined, startUs: number) => Math.max(startUs, n === undefined ? latestUs : (lastSeen.get(n) ?? startUs));
  const resource: Attributes = { 'service.name': 'drover', [DROVER.runId]: runId };
  const span = (fields: Pick<StoredSpan, 'spanId' | 'parentSpanId' | 'name' | 'startUs' | 'endUs' | 'attributes'>): StoredSpan => ({
    traceId,
    kind: 1,
    statusCode: 0,
    statusMessage: null,
    service: 'drover',
    scope: 'drover',
    resource,
    events: [],
    runId,
    ...fields,
    attributes: { [DROVER.runId]: runId, ...fields.attributes },
  });
  const close = (s: StoredSpan) => {
    h.closing.push(s);
    h.stored.add(s.spanId);
    byId.set(s.spanId, s);
  };

  for (const e of executions) {
    if (e.span.attributes[EXECUTION.state] !== 'running') continue;
    const closed = plain(e.span);
    closed.endUs = endOf(e.n, closed.startUs);
    closed.attributes[EXECUTION.state] = 'interrupted';
    close(closed);
  }

  // Calls started and never ended: their span was never written (a stopped call writes it).
  const unsettled = new Map<string, CallRecord>();
  for (const c of input.calls) {
    if (!SPAN_KINDS.has(c.kind) || c.status === 'finished') continue;
    unsettled.set(c.key, c);
    if (c.status === 'failed') continue;
    const id = callSpanIdForRun(runId, c.key, c.startedAt);
    const existing = byId.get(id);
    if (existing) {
      // Stopped (Ctrl-C, `drover stop`): it wrote its span; a resume runs it again.
      const stopped = plain(existing);
      stopped.attributes[EXECUTION.interrupted] = true;
      byId.set(id, stopped);
      continue;
    }
    const startUs = c.startedAt * 1000;
    const n = executionAt(startUs);
    close(
      span({
        spanId: id,
        parentSpanId: c.phase !== null ? phaseSpanIdForRun(runId, c.phase) : rootId,
        name: callSpanName(c),
        startUs,
        endUs: endOf(n, startUs),
        attributes: {
          [DROVER.callKey]: c.key,
          ...(c.phase !== null ? { [DROVER.phase]: c.phase } : {}),
          'drover.call.kind': c.kind,
          ...(c.kind === 'agent'
            ? { [GENAI.operation]: 'invoke_agent', [GENAI.agentName]: c.label ?? 'agent', [GENAI.agentId]: c.key }
            : {}),
          [DROVER.reused]: false,
          [EXECUTION.interrupted]: true,
          ...(n !== undefined ? { [DROVER.execution]: n } : {}),
        },
      }),
    );
  }
  // Every attempt of a call that has not finished (interrupted — also in an execution before the
  // last — stopped or failed) moves under the attempt that runs it again.
  for (const s of byId.values()) {
    const key = s.attributes[DROVER.callKey];
    if (typeof key !== 'string' || s.attributes[EXECUTION.superseded] === true || !unsettled.has(key)) continue;
    const list = h.earlierAttempts.get(key);
    if (list) list.push(plain(s));
    else h.earlierAttempts.set(key, [plain(s)]);
  }

  for (const s of byId.values()) {
    const key = s.attributes[DROVER.callKey];
    if (typeof key === 'string' && s.attributes[EXECUTION.superseded] !== true) h.callKeysWithSpan.add(key);
  }

  // Phases: the stored ones, and one for each phase whose calls hang under a phase span no execution wrote.
  const titles = new Set<string>();
  for (const c of input.calls) if (c.phase !== null) titles.add(c.phase);
  for (const s of byId.values()) if (typeof s.attributes[DROVER.phase] === 'string') titles.add(s.attributes[DROVER.phase] as string);
  const children = new Map<string, StoredSpan[]>();
  for (const s of byId.values()) {
    if (s.parentSpanId === null) continue;
    const list = children.get(s.parentSpanId);
    if (list) list.push(s);
    else children.set(s.parentSpanId, [s]);
  }
  let rootEndUs = 0;
  for (const title of titles) {
    const id = phaseSpanIdForRun(runId, title);
    const stored = byId.get(id);
    if (stored) {
      h.phases.set(title, { startUs: stored.startUs, endUs: stored.endUs });
      rootEndUs = Math.max(rootEndUs, stored.endUs);
      continue;
    }
    const kids = children.get(id);
    if (!kids) continue;
    const startUs = kids.reduce((m, k) => Math.min(m, k.startUs), Number.POSITIVE_INFINITY);
    const endUs = kids.reduce((m, k) => Math.max(m, k.endUs), startUs);
    close(
      span({
        spanId: id,
        parentSpanId: rootId,
        name: `phase ${title}`,
        startUs,
        endUs,
        attributes: { [DROVER.phase]: title, [DROVER.execution]: executionAt(startUs) ?? h.execution - 1 },
      }),
    );
    h.phases.set(title, { startUs, endUs });
    rootEndUs = Math.max(rootEndUs, endUs);
  }

  const root = byId.get(rootId);
  if (root) h.root = { startUs: root.startUs, endUs: root.endUs };
  else if (byId.size > 0) {
    // No execution ended: the root closes at the last thing any of them recorded.
    const startUs = input.createdAt * 1000;
    const endUs = Math.max(startUs, latestUs, rootEndUs);
    close(
      span({
        spanId: rootId,
        parentSpanId: null,
        name: `invoke_workflow ${input.workflowName}`,
        startUs,
        endUs,
        attributes: {
          [GENAI.operation]: 'invoke_workflow',
          [DROVER.workflow]: input.workflowName,
          'drover.run.status': 'interrupted',
          [EXECUTION.count]: h.execution - 1,
        },
      }),
    );
    h.root = { startUs, endUs };
  }
  return h;
}
