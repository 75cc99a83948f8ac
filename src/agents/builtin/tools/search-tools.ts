/**
 * @module The glob and grep tools. The model chooses their patterns, and a
 * JavaScript regex (`(a+)+$`) or a glob (picomatch compiles `*a*a*a…b` to a
 * backtracking regex) can run for hours on a short line or file name. So the
 * patterns never run on the driver's thread: each search runs in its own worker
 * thread, terminated when the agent's signal aborts (Ctrl-C, `timeoutMs`) or its
 * time limit passes — `Worker.terminate()` interrupts a running regex within
 * milliseconds. Workers that answered are kept idle for the next search.
 *
 * Why a worker and not a linear-time engine: the `re2` bindings need Node
 * >= 22.22 (drover supports 20.19) and a native build whose prebuilt download is
 * not reachable everywhere; a pure-JS RE2 port (re2js, MIT, maintained) would
 * bound regex time but still run on the driver's thread, change the syntax the
 * tool documents, and leave glob matching and the directory walk unguarded. A
 * worker guards all three with no new dependency and keeps JavaScript regex syntax.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { SearchJob, SearchReply } from './search.js';
import type { ToolSpec } from './tool.js';
import { realTarget, ToolError, type Workspace } from './workspace.js';

/** How long one glob or grep may run before it is stopped, in ms (from the moment the worker starts searching). */
export const DEFAULT_SEARCH_TIME_LIMIT_MS = 30_000;
/** A worker's heap cap, in MB: a pattern that explodes in memory ends the search, not the driver. */
const SEARCH_HEAP_MB = 512;

/** Limits of the search tools. */
export interface SearchToolOptions {
  /** Time limit of one search in ms; default {@link DEFAULT_SEARCH_TIME_LIMIT_MS}. */
  timeLimitMs?: number;
  /** Called on the driver's thread when a search's worker has started matching (progress, tests). */
  onSearchStarted?: (tool: 'glob' | 'grep') => void;
}

function startWorker(): Worker {
  const options = { resourceLimits: { maxOldGenerationSizeMb: SEARCH_HEAP_MB } };
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./search-worker.js', import.meta.url), options);
  // Running from TypeScript sources (the tests): load the worker through tsx, which drover already uses for scripts.
  const api = import.meta.resolve('tsx/esm/api');
  // (Named from this file's own URL, so the built package holds no reference to a .ts file it does not ship.)
  const file = import.meta.url.replace(/search-tools\.ts$/, 'search-worker.ts');
  const boot = `import(${JSON.stringify(api)}).then(({ tsImport }) => tsImport(${JSON.stringify(file)}, ${JSON.stringify(file)}))`;
  return new Worker(boot, { ...options, eval: true });
}

/**
 * Workers that finished a search cleanly, kept (unref'd: they never hold the
 * process open) for the next one, which then starts in well under a millisecond
 * instead of paying a thread start. A worker that was stopped is never reused.
 */
const idle: Worker[] = [];
const MAX_IDLE = 2;

function takeWorker(): Worker {
  const reused = idle.pop();
  if (reused) {
    reused.ref();
    return reused;
  }
  const worker = startWorker();
  worker.on('exit', () => {
    const at = idle.indexOf(worker);
    if (at >= 0) idle.splice(at, 1);
  });
  return worker;
}

function keepWorker(worker: Worker): void {
  if (idle.length >= MAX_IDLE) {
    void worker.terminate();
    return;
  }
  worker.unref();
  idle.push(worker);
}

/**
 * Runs one search in a worker thread.
 * @throws ToolError for a bad pattern, a search past `timeLimitMs`, or one out of memory;
 *   the signal's reason (not a ToolError) when the signal aborts.
 */
function searchInWorker(job: SearchJob, signal: AbortSignal, options: SearchToolOptions): Promise<string> {
  const timeLimitMs = options.timeLimitMs ?? DEFAULT_SEARCH_TIME_LIMIT_MS;
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(abortReason(signal));
      return;
    }
    const worker = takeWorker();
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    /** Ends this search: the worker goes back to the idle list after a clean answer, else it is terminated. */
    const settle = (clean: boolean, outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      if (clean) keepWorker(worker);
      else void worker.terminate();
      outcome();
    };
    const onAbort = () => settle(false, () => reject(abortReason(signal)));
    const onMessage = (reply: SearchReply) => {
      if (reply.type === 'started') {
        options.onSearchStarted?.(job.tool);
        timer = setTimeout(
          () =>
            settle(false, () =>
              reject(
                new ToolError(
                  `${job.tool} stopped after ${timeLimitMs} ms without finishing: the pattern may backtrack catastrophically ` +
                    '(nested quantifiers such as (a+)+, or many * in one glob). Simplify the pattern or narrow the path/glob.',
                ),
              ),
            ),
          timeLimitMs,
        );
      } else if (reply.type === 'done') settle(true, () => resolve(reply.text));
      else settle(true, () => reject(new ToolError(reply.message)));
    };
    const onError = (err: Error & { code?: string }) =>
      settle(false, () =>
        reject(
          err.code === 'ERR_WORKER_OUT_OF_MEMORY'
            ? new ToolError(`${job.tool} ran out of memory (${SEARCH_HEAP_MB} MB); simplify the pattern or narrow the path/glob`)
            : err,
        ),
      );
    const onExit = (code: number) =>
      settle(false, () => reject(new Error(`the ${job.tool} worker exited with code ${code} before answering`)));
    signal.addEventListener('abort', onAbort, { once: true });
    worker.on('message', onMessage).on('error', onError).on('exit', onExit);
    worker.postMessage(job);
  });
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('search aborted');
}

/**
 * Drops grep's matches in files the policy does not let the agent read (checked on each file's
 * real path), saying how many were dropped.
 */
function withoutDenied(text: string, workspace: Workspace): string {
  if (!workspace.guard || text === 'no matches') return text;
  const verdicts = new Map<string, boolean>();
  let dropped = 0;
  const kept = text.split('\n').filter((line) => {
    const m = /^(.+?):\d+: /.exec(line);
    if (!m) return true;
    const file = m[1] as string;
    let ok = verdicts.get(file);
    if (ok === undefined) {
      ok = workspace.guard?.('read', realTarget(resolve(workspace.root, file)).real) === null;
      verdicts.set(file, ok);
    }
    if (!ok) dropped++;
    return ok;
  });
  if (dropped === 0) return text;
  const note = `[${dropped} match${dropped > 1 ? 'es' : ''} in files the policy does not let this agent read were dropped]`;
  return kept.length ? `${kept.join('\n')}\n${note}` : `no matches\n${note}`;
}

/** A glob pattern or filter must stay below the directory it is matched in. */
function relativePattern(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '') throw new ToolError(`${what} must be a non-empty string`);
  if (value.startsWith('/') || value.split('/').includes('..'))
    throw new ToolError(`${what} must be relative to the workspace, without ".."`);
  return value;
}

/**
 * The glob and grep tools with the given limits (the agent uses the defaults;
 * tests and embedders may shorten the time limit).
 */
export function searchTools(options: SearchToolOptions = {}): { globTool: ToolSpec; grepTool: ToolSpec } {
  const globTool: ToolSpec = {
    name: 'glob',
    description: 'List files matching a glob pattern (e.g. "src/**/*.ts"), relative to the workspace.',
    parameters: { type: 'object', properties: { pattern: { type: 'string' } }, required: ['pattern'] },
    async run(input, { workspace, signal }) {
      const pattern = relativePattern(input.pattern, 'pattern');
      return searchInWorker({ tool: 'glob', root: workspace.root, realRoot: workspace.realRoot, pattern }, signal, options);
    },
  };
  const grepTool: ToolSpec = {
    name: 'grep',
    description: 'Search file contents with a JavaScript regular expression. Optional path (file or directory) and glob filter.',
    parameters: {
      type: 'object',
      properties: { pattern: { type: 'string' }, path: { type: 'string' }, glob: { type: 'string' } },
      required: ['pattern'],
    },
    async run(input, { workspace, signal }) {
      if (typeof input.pattern !== 'string' || input.pattern === '') throw new ToolError('pattern must be a non-empty string');
      const glob = input.glob === undefined || input.glob === '' ? '**/*' : relativePattern(input.glob, 'glob');
      const base = workspace.locate(input.path ?? '.');
      if (!base.exists) throw new ToolError(`no such path: ${workspace.show(base.abs)}`);
      const job: SearchJob = {
        tool: 'grep',
        root: workspace.root,
        realRoot: workspace.realRoot,
        base: base.abs,
        baseIsDir: (await stat(base.real)).isDirectory(),
        pattern: input.pattern,
        glob,
      };
      return withoutDenied(await searchInWorker(job, signal, options), workspace);
    },
  };
  return { globTool, grepTool };
}

export const { globTool, grepTool } = searchTools();
