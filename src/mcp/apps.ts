/**
 * @module MCP Apps (SEP-1865) UI resources: `ui://drover/run/<id>` and `ui://drover/tasks/<list>`,
 * each one self-contained HTML page (MIME `text/html;profile=mcp-app`) that an MCP client able to
 * render apps shows inline. The page carries a snapshot of the data as JSON and renders it with
 * `textContent` only (prompts, labels and outputs are never parsed as HTML); when the host sends it
 * a tool result (`ui/notifications/tool-result`), it renders that instead, so it stays current.
 * Written by hand: a few hundred bytes of DOM code, where the dashboard's Preact bundle would be
 * 40 KB and need files a `ui://` resource cannot reference.
 */

/** The MIME type MCP Apps hosts look for. */
export const MCP_APP_MIME = 'text/html;profile=mcp-app';

export const runAppUri = (runId: string) => `ui://drover/run/${encodeURIComponent(runId)}`;
export const tasksAppUri = (listId: string) => `ui://drover/tasks/${encodeURIComponent(listId)}`;

/** JSON safe inside `<script>`: no `</script>`, no `<!--`, no U+2028/2029 surprises. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

const STYLE = `body{font:13px/1.4 system-ui,sans-serif;margin:8px;color:#222}h1{font-size:15px;margin:0 0 6px}
table{border-collapse:collapse;width:100%}td,th{padding:2px 6px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
th{font-weight:600;color:#555}.s-done,.s-completed{color:#19733a}.s-failed,.s-budget_exceeded{color:#b42318}.s-running,.s-in_progress{color:#1d4ed8}
.s-waiting,.s-pending{color:#a15c07}.muted{color:#777}.phase{margin-top:8px;font-weight:600}.num{text-align:right;font-variant-numeric:tabular-nums}`;

/**
 * The renderer, shared by both apps (plain DOM, textContent only). `kind` picks the view:
 * `run` renders { header, tree, cost } and `tasks` renders a Board.
 */
const SCRIPT = `
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined && text !== null) e.textContent = String(text); if (cls) e.className = cls; return e; };
const usd = (v) => v === null || v === undefined ? '—' : '$' + Number(v).toFixed(4);
const row = (cells, head) => { const tr = el('tr'); for (const c of cells) { const td = el(head ? 'th' : 'td', c.text ?? c, c.cls); tr.append(td); } return tr; };
function renderRun(root, d) {
  const h = d.header || {};
  root.append(el('h1', (h.name || d.tree?.runId || 'run') + ' — ' + (h.status || d.tree?.status || '')));
  root.append(el('div', 'run ' + (d.tree?.runId ?? '') + ' · agents ' + (h.agents ? h.agents.done + '/' + h.agents.total : '?') + ' · spend ' + usd(d.cost?.total?.costUsd), 'muted'));
  for (const p of d.tree?.phases ?? []) {
    root.append(el('div', (p.title ?? '(no phase)') + '  ' + p.done + '/' + p.calls.length + ' done · ' + usd(p.costUsd), 'phase'));
    const t = el('table');
    t.append(row(['call', 'state', 'model', 'in', 'out', 'cost'], true));
    for (const c of p.calls) t.append(row([c.label, { text: c.state, cls: 's-' + c.state }, c.model ?? '', { text: c.inputTokens, cls: 'num' }, { text: c.outputTokens, cls: 'num' }, { text: usd(c.costUsd), cls: 'num' }]));
    root.append(t);
  }
  if ((d.questions ?? []).length) {
    root.append(el('div', 'waiting for an answer', 'phase'));
    for (const q of d.questions) root.append(el('div', q.id + ': ' + q.question, 's-waiting'));
  }
}
function renderTasks(root, b) {
  root.append(el('h1', 'tasks ' + b.listId));
  root.append(el('div', Object.entries(b.counts ?? {}).map(([k, v]) => k + ' ' + v).join(' · '), 'muted'));
  const t = el('table');
  t.append(row(['#', 'subject', 'status', 'owner', 'blocked by'], true));
  for (const x of b.tasks ?? []) t.append(row([x.id, x.subject, { text: x.ready ? 'ready' : x.status, cls: 's-' + x.status }, x.owner ?? '', (x.blockedBy ?? []).join(', ')]));
  root.append(t);
}
function render(data) {
  const root = document.getElementById('app');
  root.replaceChildren();
  if (!data) { root.append(el('div', 'no data', 'muted')); return; }
  if (KIND === 'run') renderRun(root, data); else renderTasks(root, data);
}
render(JSON.parse(document.getElementById('drover-data').textContent));
window.addEventListener('message', (ev) => {
  const m = ev.data;
  if (m && m.jsonrpc === '2.0' && m.method === 'ui/notifications/tool-result' && m.params?.structuredContent) render(m.params.structuredContent);
});
try { window.parent.postMessage({ jsonrpc: '2.0', id: 1, method: 'ui/initialize', params: { appInfo: { name: 'drover', version: '0.1.0' }, appCapabilities: {} } }, '*'); } catch {}
`;

/** One app page: the snapshot `data` rendered by view `kind`. */
export function appHtml(kind: 'run' | 'tasks', title: string, data: unknown): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${title.replace(/[<>&"]/g, '')}</title><style>${STYLE}</style></head>
<body><div id="app"></div><script type="application/json" id="drover-data">${scriptJson(data)}</script>
<script>const KIND = ${JSON.stringify(kind)};${SCRIPT}</script></body></html>`;
}
