// The trace waterfall: rows come from the server already folded (depth, minimum duration) and
// filtered, in pages; only the rows in view are in the DOM, so a 20,000-span trace stays usable.
import { useEffect, useRef, useState } from '/assets/vendor/hooks.mjs';
import { asText, fmtUs, fmtUsd, getJson, html, useVersion } from './util.mjs';

const ROW = 22;
const PAGE = 200; // boot.mjs asks for the first page early with this limit: keep them the same
const VIEW = 560;

export function Waterfall({ id }) {
  const version = useVersion();
  const [depth, setDepth] = useState('');
  const [minMs, setMinMs] = useState('');
  const [filter, setFilter] = useState('');
  const [scroll, setScroll] = useState(0);
  const [pages, setPages] = useState({ key: '', meta: undefined, rows: new Map(), error: undefined });
  const [picked, setPicked] = useState(null);
  // Pages asked for (in flight or loaded) per query: an effect running on a render from before a
  // page arrived must not ask for it again.
  const loading = useRef(new Set());
  // Failed tries per page of a query, and the query now: a failed page is asked again while it is current.
  const retries = useRef(new Map());
  const current = useRef('');
  const params = new URLSearchParams();
  if (depth !== '') params.set('depth', depth);
  if (minMs !== '') params.set('minMs', minMs);
  if (filter) params.set('filter', filter);
  const key = `${params}|${version}`;
  current.current = key;
  const load = async (page, forKey) => {
    const tag = `${forKey}#${page}`;
    if (loading.current.has(tag)) return;
    loading.current.add(tag);
    const q = new URLSearchParams(params);
    q.set('offset', String(page * PAGE));
    q.set('limit', String(PAGE));
    try {
      const data = await getJson(`/api/runs/${encodeURIComponent(id)}/spans?${q}`);
      setPages((s) => {
        if (s.key !== forKey) {
          loading.current.delete(tag);
          return s;
        }
        const rows = new Map(s.rows);
        rows.set(page, data.rows);
        return { ...s, meta: data, rows, error: undefined };
      });
    } catch (err) {
      setPages((s) => ({ ...s, error: err.message }));
      // Asked again after 1 s, 2, 4 … (at most 30 s apart) while the query is the same: one failed
      // request must not leave the waterfall empty until the user scrolls or filters.
      const tries = (retries.current.get(tag) ?? 0) + 1;
      retries.current.set(tag, tries);
      setTimeout(
        () => {
          loading.current.delete(tag);
          if (current.current === forKey) load(page, forKey);
        },
        Math.min(30_000, 1000 * 2 ** (tries - 1)),
      );
    }
  };
  // A new query (or a store change) starts over, keeping the old rows on screen until the new ones come.
  useEffect(() => {
    loading.current = new Set();
    setPages((s) => ({ key, meta: s.meta, rows: new Map(), error: undefined, stale: s.rows }));
    load(Math.floor(scroll / ROW / PAGE), key);
  }, [key]);
  const meta = pages.meta;
  const total = meta?.total ?? 0;
  const first = Math.max(0, Math.floor(scroll / ROW) - 10);
  const last = Math.min(total, Math.ceil((scroll + VIEW) / ROW) + 10);
  const rowAt = (i) => (pages.rows.get(Math.floor(i / PAGE)) ?? pages.stale?.get(Math.floor(i / PAGE)))?.[i % PAGE];
  useEffect(() => {
    for (let p = Math.floor(first / PAGE); p <= Math.floor(Math.max(first, last - 1) / PAGE); p++) if (!pages.rows.has(p)) load(p, key);
  }, [first, last, key, pages.rows]);
  const span = meta ? Math.max(1, meta.endUs - meta.startUs) : 1;
  const visible = [];
  for (let i = first; i < last; i++) {
    const r = rowAt(i);
    if (r) visible.push([i, r]);
  }
  const depths = meta ? Array.from({ length: meta.maxDepth + 1 }, (_, d) => d) : [];
  return html`<div class="waterfall">
    <div class="toolbar">
      <label>depth <select aria-label="depth" data-testid="wf-depth" value=${depth} onChange=${(e) => setDepth(e.target.value)}>
        <option value="">all</option>${depths.map((d) => html`<option value=${String(d)}>${d}</option>`)}
      </select></label>
      <label>hide spans shorter than <input aria-label="min ms" data-testid="wf-min" type="number" min="0" size="6" value=${minMs} onInput=${(e) => setMinMs(e.target.value)} /> ms</label>
      <input type="search" aria-label="filter spans" data-testid="wf-filter" placeholder="filter spans" value=${filter} onInput=${(e) => setFilter(e.target.value)} />
      <span class="muted" data-testid="wf-count">${meta ? `${total} of ${meta.spans} spans shown` : ''}</span>
    </div>
    ${pages.error ? html`<p class="error">${pages.error}</p>` : ''}
    ${meta && meta.spans === 0 ? html`<p class="muted">no spans for this run (tracing off, or nothing ran yet)</p>` : ''}
    <div class="split">
      <div class="wf-scroll" style=${`height:${VIEW}px`} onScroll=${(e) => setScroll(e.currentTarget.scrollTop)} data-testid="waterfall">
        <div style=${`height:${total * ROW}px;position:relative`}>
          ${visible.map(
            ([i, r]) => html`<div class=${`wf-row${r.status === 2 ? ' err' : ''}${r.critical ? ' crit' : ''}${r.match ? ' match' : ''}`}
              style=${`top:${i * ROW}px`} data-span=${r.spanId} data-name=${r.name} data-depth=${r.depth} onClick=${() => setPicked(r.spanId)}>
              <span class="wf-name" style=${`padding-left:${Math.min(r.depth, 16) * 12}px`} title=${r.name}>${r.name}${r.folded ? html` <span class="folded">+${r.folded}</span>` : ''}</span>
              <span class="wf-track">
                ${r.gapUs > 0 ? html`<span class="wf-gap" style=${`left:${((r.startUs - r.gapUs - meta.startUs) / span) * 100}%;width:${(r.gapUs / span) * 100}%`}></span>` : ''}
                <span class=${r.open ? 'wf-bar open' : 'wf-bar'} title=${r.open ? 'not ended yet: drawn to its latest child' : ''} style=${`left:${((r.startUs - meta.startUs) / span) * 100}%;width:${Math.max(0.2, (r.durationUs / span) * 100)}%`}></span>
              </span>
              <span class="wf-dur">${fmtUs(r.durationUs)}</span>
              <span class="wf-facts">${r.costUsd !== null ? fmtUsd(r.costUsd) : ''} ${r.facts.join(' · ')}</span>
            </div>`,
          )}
        </div>
      </div>
      ${picked ? html`<${SpanDetail} id=${id} spanId=${picked} />` : ''}
    </div>
  </div>`;
}

function SpanDetail({ id, spanId }) {
  const [data, setData] = useState(null);
  useEffect(() => {
    let live = true;
    getJson(`/api/runs/${encodeURIComponent(id)}/spans/${encodeURIComponent(spanId)}`).then(
      (d) => live && setData(d),
      (err) => live && setData({ error: err.message }),
    );
    return () => {
      live = false;
    };
  }, [id, spanId]);
  if (!data) return html`<aside class="drill"><p class="muted">loading…</p></aside>`;
  if (data.error) return html`<aside class="drill"><p class="error">${data.error}</p></aside>`;
  return html`<aside class="drill" data-testid="span">
    <h2>${data.name}</h2>
    <div class="facts"><span>${fmtUs(data.endUs - data.startUs)}</span><span>${data.service ?? ''}</span><span class="mono">${data.spanId}</span></div>
    ${data.statusMessage ? html`<p class="error">${data.statusMessage}</p>` : ''}
    <table class="grid"><tbody>${Object.entries(data.attributes).map(([k, v]) => html`<tr><td class="mono">${k}</td><td><pre>${asText(v)}</pre></td></tr>`)}</tbody></table>
    ${data.events.length ? html`<h3>Events</h3><ul>${data.events.map((e) => html`<li>${e.name} <pre>${asText(e.attributes)}</pre></li>`)}</ul>` : ''}
  </aside>`;
}
