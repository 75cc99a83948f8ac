/**
 * @module `drover ui`'s HTTP server: Hono on @hono/node-server, bound to 127.0.0.1. Every request's
 * Host and Origin are checked (DNS rebinding, cross-site posts: src/net/origin.ts); every
 * state-changing request needs the per-start token (from the opened URL's `?token=`, kept in an
 * HttpOnly SameSite=Strict cookie, or an `x-drover-token` header for scripts). Serves the JSON API
 * (docs/ui.md), the live-update stream and the page's assets, all from the package.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAdaptorServer, type HttpBindings } from '@hono/node-server';
import type { Context } from 'hono';
import { Hono } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { streamSSE } from 'hono/streaming';
import { DroverError } from '../core/index.js';
import { closeServer, listen, originGuard } from '../net/index.js';
import type { Store } from '../store/index.js';
import { RUN_STATES } from '../workflow/inspect.js';
import { resumeDetached, stopMany, stopOne, transcriptOf } from './control.js';
import { runCost } from './cost.js';
import { ChangeWatcher } from './events.js';
import { callGraph } from './graph.js';
import { answer, listInbox } from './inbox.js';
import { callDetail, callTree, listRunsPage, runEvents, runHeader, runScript } from './runs.js';
import { spanDetail, spanPage, warmTrace } from './spans.js';
import { taskBoard, taskHistory } from './tasks.js';

export interface UiServerOptions {
  store: Store;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** The task list the board opens on. */
  taskList?: string;
  /** How often the store is checked for changes, ms (default 250). */
  pollMs?: number;
}

export interface UiServer {
  /** The page's address without the token. */
  url: string;
  /** The address to open: carries the token, which the page trades for a cookie. */
  openUrl: string;
  token: string;
  port: number;
  close(): Promise<void>;
}

const COOKIE = 'drover_ui_token';
const ASSETS = join(dirname(fileURLToPath(import.meta.url)), 'assets');

/** The page's own files, and the browser builds of its libraries, read once. */
function loadAssets(): Map<string, { body: string; type: string }> {
  const files = new Map<string, { body: string; type: string }>();
  const type = (name: string) =>
    name.endsWith('.mjs') || name.endsWith('.js')
      ? 'text/javascript; charset=utf-8'
      : name.endsWith('.css')
        ? 'text/css; charset=utf-8'
        : 'text/html; charset=utf-8';
  for (const name of ['index.html', 'boot.mjs', 'app.mjs', 'style.css', 'views.mjs', 'waterfall.mjs', 'util.mjs']) {
    files.set(`/assets/${name}`, { body: readFileSync(join(ASSETS, name), 'utf8'), type: type(name) });
  }
  // ES module builds from node_modules; bare `preact` imports point at the served copy (no import map: the CSP allows no inline script).
  const vendor: [string, string][] = [
    ['preact.mjs', 'preact'],
    ['hooks.mjs', 'preact/hooks'],
    ['htm.mjs', 'htm'],
  ];
  for (const [name, spec] of vendor) {
    const body = readFileSync(fileURLToPath(import.meta.resolve(spec)), 'utf8').replace(
      /from\s*"preact"/g,
      'from"/assets/vendor/preact.mjs"',
    );
    files.set(`/assets/vendor/${name}`, { body, type: type(name) });
  }
  return files;
}

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

function sameToken(given: string | undefined, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

const intParam = (c: Context, name: string): number | undefined => {
  const v = c.req.query(name);
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new HttpError(400, `query parameter ${name} must be a number ≥ 0 (got ${JSON.stringify(v)})`);
  return n;
};

/** A request's JSON body (at most 100,000 characters). Throws HttpError 400/413 naming what is wrong. */
async function jsonBody(c: Context): Promise<unknown> {
  if (!(c.req.header('content-type') ?? '').startsWith('application/json')) throw new HttpError(400, 'send the body as application/json');
  const raw = await c.req.text();
  if (raw.length > 100_000) throw new HttpError(413, 'body larger than 100,000 characters');
  try {
    return JSON.parse(raw);
  } catch (err) {
    throw new HttpError(400, `request body is not valid JSON: ${(err as Error).message}`);
  }
}

class HttpError extends Error {
  constructor(
    readonly status: 400 | 403 | 404 | 413,
    message: string,
  ) {
    super(message);
  }
}

/** Starts the dashboard. Throws when the port is taken (the listen error, EADDRINUSE). */
export async function startUiServer(options: UiServerOptions): Promise<UiServer> {
  const { store } = options;
  const host = options.host ?? '127.0.0.1';
  const token = randomBytes(24).toString('base64url');
  const assets = loadAssets();
  const watcher = new ChangeWatcher(store, options.pollMs ?? 250);
  let guard: ReturnType<typeof originGuard> | undefined;

  const app = new Hono<{ Bindings: HttpBindings }>();

  app.use('*', async (c, next) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) c.header(k, v);
    const refusal = guard ? guard(c.env.incoming) : 'server not ready';
    if (refusal) return c.json({ error: { code: 'FORBIDDEN', message: refusal } }, 403);
    const method = c.req.method;
    if (method !== 'GET' && method !== 'HEAD') {
      const given = c.req.header('x-drover-token') ?? getCookie(c, COOKIE);
      if (!sameToken(given, token)) {
        return c.json(
          { error: { code: 'FORBIDDEN', message: 'this request changes something: it needs the token from the URL drover ui printed' } },
          403,
        );
      }
    }
    return next();
  });

  app.onError((err, c) => {
    if (err instanceof HttpError) return c.json({ error: { code: 'BAD_REQUEST', message: err.message } }, err.status);
    if (err instanceof DroverError) {
      const status =
        err.code === 'NOT_FOUND' ? 404 : err.code === 'ALREADY_ANSWERED' || err.code === 'RUN_BUSY' ? 409 : err.exitCode === 2 ? 400 : 500;
      return c.json({ error: { code: err.code, message: err.message } }, status);
    }
    return c.json({ error: { code: 'INTERNAL', message: (err as Error).message } }, 500);
  });

  // The page. `?token=` is traded for the cookie, then dropped from the address bar.
  app.get('/', (c) => {
    const given = c.req.query('token');
    if (given !== undefined) {
      if (!sameToken(given, token)) return c.text('wrong token: open the URL drover ui printed', 403);
      setCookie(c, COOKIE, token, { httpOnly: true, sameSite: 'Strict', path: '/' });
      return c.redirect('/', 303);
    }
    const page = assets.get('/assets/index.html');
    return c.html(page?.body ?? '');
  });
  app.get('/assets/*', (c) => {
    const file = assets.get(c.req.path);
    if (!file) return c.json({ error: { code: 'NOT_FOUND', message: `no asset ${c.req.path}` } }, 404);
    return c.body(file.body, 200, { 'content-type': file.type });
  });

  const api = new Hono<{ Bindings: HttpBindings }>();
  // The store's mark before each answer is read: the page uses it to tell whether the first
  // live-update event means its data is already out of date (assets/util.mjs).
  api.use('*', async (c, next) => {
    c.header('x-drover-mark', await store.changeMark());
    await next();
  });
  api.get('/session', (c) =>
    c.json({ token: sameToken(getCookie(c, COOKIE), token), store: store.location, taskList: options.taskList ?? null }),
  );
  api.get('/runs', async (c) => {
    const status = c.req.query('status');
    if (status && !(RUN_STATES as readonly string[]).includes(status)) {
      throw new HttpError(400, `query parameter status must be one of ${RUN_STATES.join(', ')} (got ${JSON.stringify(status)})`);
    }
    const offset = intParam(c, 'offset');
    const limit = intParam(c, 'limit');
    return c.json(
      await listRunsPage(store, {
        ...(status ? { status } : {}),
        ...(c.req.query('workflow') ? { workflow: c.req.query('workflow') as string } : {}),
        ...(c.req.query('q') ? { text: c.req.query('q') as string } : {}),
        ...(offset !== undefined ? { offset } : {}),
        ...(limit !== undefined ? { limit } : {}),
      }),
    );
  });
  api.get('/runs/:id', async (c) => {
    // The run page's first call: its waterfall's trace starts being prepared now, in the background.
    warmTrace(store, c.req.param('id'));
    return c.json(await runHeader(store, c.req.param('id')));
  });
  api.get('/runs/:id/calls', async (c) => c.json(await callTree(store, c.req.param('id'))));
  api.get('/runs/:id/calls/:key', async (c) => c.json(await callDetail(store, c.req.param('id'), c.req.param('key'))));
  api.get('/runs/:id/calls/:key/transcript', async (c) => c.json(await transcriptOf(store, c.req.param('id'), c.req.param('key'))));
  api.get('/runs/:id/graph', async (c) => c.json(await callGraph(store, c.req.param('id'))));
  api.get('/runs/:id/spans', async (c) => {
    const depth = intParam(c, 'depth');
    const minMs = intParam(c, 'minMs');
    const offset = intParam(c, 'offset');
    const limit = intParam(c, 'limit');
    const filter = c.req.query('filter');
    return c.json(
      await spanPage(store, c.req.param('id'), {
        ...(depth !== undefined ? { depth } : {}),
        ...(minMs !== undefined ? { minUs: minMs * 1000 } : {}),
        ...(filter ? { filter } : {}),
        ...(offset !== undefined ? { offset } : {}),
        ...(limit !== undefined ? { limit } : {}),
      }),
    );
  });
  api.get('/runs/:id/spans/:spanId', async (c) => c.json(await spanDetail(store, c.req.param('id'), c.req.param('spanId'))));
  api.get('/runs/:id/cost', async (c) => c.json(await runCost(store, c.req.param('id'))));
  api.get('/runs/:id/script', async (c) => c.json(await runScript(store, c.req.param('id'))));
  api.get('/runs/:id/events', async (c) => c.json(await runEvents(store, c.req.param('id'))));
  api.get('/questions', async (c) => c.json(await listInbox(store)));
  api.post('/runs/:id/questions/:qid/answer', async (c) => {
    const type = c.req.header('content-type') ?? '';
    if (!type.startsWith('application/json')) throw new HttpError(400, 'send the answer as application/json: {"answer": "..."}');
    const raw = await c.req.text();
    if (raw.length > 100_000) throw new HttpError(413, 'answer larger than 100,000 characters');
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch (err) {
      throw new HttpError(400, `request body is not valid JSON: ${(err as Error).message}`);
    }
    const text = (body as { answer?: unknown } | null)?.answer;
    if (typeof text !== 'string' || text.length === 0) throw new HttpError(400, 'body.answer must be a non-empty string');
    return c.json(await answer(store, c.req.param('id'), c.req.param('qid'), text));
  });
  api.post('/runs/stop', async (c) => c.json(await stopMany(store, ((await jsonBody(c)) as { runs?: unknown } | null)?.runs)));
  api.post('/runs/:id/stop', async (c) => c.json(await stopOne(store, c.req.param('id'))));
  api.post('/runs/:id/resume', async (c) => c.json(await resumeDetached(store, c.req.param('id'))));
  api.get('/tasks', async (c) => {
    const list = c.req.query('list') ?? options.taskList ?? (await store.tasks.listTaskLists())[0];
    if (!list) return c.json({ listId: null, lists: [], tasks: [], counts: {}, dag: { width: 0, height: 0, nodes: [], edges: [] } });
    return c.json(await taskBoard(store, list));
  });
  api.get('/tasks/:list/history', async (c) => c.json(await taskHistory(store, c.req.param('list'), c.req.query('task'))));
  api.get('/events', (c) =>
    streamSSE(c, async (stream) => {
      let id = 0;
      const send = (mark: string) => stream.writeSSE({ event: 'change', data: JSON.stringify({ mark }), id: String(++id) });
      // Subscribed before the first mark is read, so no change falls between them; a change seen
      // before that first event is out is sent right after it.
      let started = false;
      let missed = false;
      const off = watcher.subscribe((mark) => {
        if (started) void send(mark);
        else missed = true;
      });
      // The store's mark now (not the watcher's last poll): the page compares it with the marks
      // its first reads carried (x-drover-mark) and reloads only if they are older.
      await send(await store.changeMark());
      started = true;
      if (missed) await send(watcher.mark);
      // Open until the client goes (or the server closes its connections); a comment every 15 s
      // keeps proxies from closing it. The timer is unref'd: an open page never holds the process.
      await new Promise<void>((resolve) => {
        const keepAlive = setInterval(() => {
          void stream.write(': keep-alive\n\n');
        }, 15_000);
        keepAlive.unref();
        stream.onAbort(() => {
          clearInterval(keepAlive);
          off();
          resolve();
        });
      });
    }),
  );
  api.all('*', (c) => c.json({ error: { code: 'NOT_FOUND', message: `no API route ${c.req.method} ${c.req.path}` } }, 404));
  app.route('/api', api);

  const server = createAdaptorServer({ fetch: app.fetch, overrideGlobalObjects: false }) as Server;
  const port = await listen(server, options.port ?? 0, host);
  guard = originGuard(host, port);
  await watcher.start();
  // The newest run is the one most often opened: its trace is prepared while the browser starts.
  store.listRuns({ limit: 1 }).then(
    ([newest]) => newest && warmTrace(store, newest.id),
    () => {},
  );
  const shown = host.includes(':') ? `[${host}]` : host;
  const url = `http://${shown}:${port}/`;
  return {
    url,
    openUrl: `${url}?token=${token}`,
    token,
    port,
    close: async () => {
      watcher.stop();
      await closeServer(server);
    },
  };
}
