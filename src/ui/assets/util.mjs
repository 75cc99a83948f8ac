// Shared by the page's views: htm bound to Preact, JSON fetches, live data and formatters.
// Everything user-provided is rendered as text (Preact escapes it); nothing is set as HTML.

import { useEffect, useRef, useState } from '/assets/vendor/hooks.mjs';
import htm from '/assets/vendor/htm.mjs';
import { h } from '/assets/vendor/preact.mjs';

export const html = htm.bind(h);

/** Fetches JSON (or takes the answer boot.mjs already asked for); throws an Error with the API's message on a non-2xx answer. */
export async function getJson(url) {
  const beforeLive = baseline === null;
  const early = globalThis.droverEarly?.get(url);
  globalThis.droverEarly?.delete(url);
  const res = await (early ?? fetch(url, { headers: { accept: 'application/json' } }));
  noteMark(beforeLive, res.headers.get('x-drover-mark'));
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body?.error?.message ?? `${res.status} ${res.statusText}`);
  return body;
}

/** POSTs JSON (the token travels in the HttpOnly cookie); throws with the API's message when refused. */
export async function postJson(url, value) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body?.error?.message ?? `${res.status} ${res.statusText}`);
  return body;
}

// One EventSource for the page: every store change bumps `version`; views re-read what they show.
// The stream's first event carries the store's mark when it connected (the baseline). Every API
// answer carries the mark read before its data (`x-drover-mark`): reads made before the baseline
// came are re-done only if one of them saw an older mark, so opening a page loads its data once.
// Later events (and the first one after a reconnect) always bump.
const listeners = new Set();
let version = 0;
let source;
let baseline = null;
const early = [];
function bump() {
  version++;
  for (const fn of listeners) fn(version);
}
function noteMark(beforeLive, mark) {
  if (!beforeLive || mark === null) return;
  if (baseline === null) early.push(mark);
  else if (mark !== baseline) bump();
}
export function startLive(onState) {
  source = new EventSource('/api/events');
  source.addEventListener('change', (e) => {
    if (baseline !== null) return bump();
    try {
      baseline = String(JSON.parse(e.data).mark);
    } catch {
      baseline = '';
    }
    if (early.some((m) => m !== baseline)) bump();
    early.length = 0;
  });
  source.onopen = () => onState(true);
  source.onerror = () => onState(false);
}

/** The store's change counter: re-renders the caller whenever the store changes. */
export function useVersion() {
  const [v, setV] = useState(version);
  useEffect(() => {
    listeners.add(setV);
    return () => listeners.delete(setV);
  }, []);
  return v;
}

/**
 * JSON at `url`, re-read when the url changes and (with `live`) whenever the store changes.
 * At most one read in flight: changes arriving meanwhile cause one more read after it.
 */
export function useJson(url, live = true) {
  const v = useVersion();
  const [state, setState] = useState({ data: undefined, error: undefined, url: undefined });
  const inflight = useRef(false);
  const again = useRef(false);
  const latest = useRef(url);
  latest.current = url;
  useEffect(() => {
    if (!url) return;
    const load = async () => {
      if (inflight.current) {
        again.current = true;
        return;
      }
      inflight.current = true;
      const wanted = latest.current;
      try {
        const data = await getJson(wanted);
        if (latest.current === wanted) setState({ data, error: undefined, url: wanted });
      } catch (err) {
        if (latest.current === wanted) setState((s) => ({ ...s, error: err.message, url: wanted }));
      } finally {
        inflight.current = false;
        if (again.current || latest.current !== wanted) {
          again.current = false;
          load();
        }
      }
    };
    load();
  }, [url, live ? v : 0]);
  return state;
}

export const fmtUsd = (v) => (v === null || v === undefined ? '—' : v < 0.01 ? `$${v.toFixed(5)}` : `$${v.toFixed(3)}`);
export const fmtTokens = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : String(n ?? 0));
export function fmtMs(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  // Whole seconds first, so 179.6 s is 3m 0s, never 2m 60s.
  const s = Math.round(ms / 1000);
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m ${s % 60}s` : `${Math.floor(m / 60)}h ${m % 60}m`;
}
export const fmtUs = (us) => (us < 1000 ? `${us} µs` : fmtMs(us / 1000));
export const fmtTime = (ms) => (ms ? new Date(ms).toLocaleString() : '—');

/** A state's badge; the class colours it. */
export const Badge = ({ state }) => html`<span class=${`badge s-${state}`} data-state=${state}>${state}</span>`;

/** A value as readable text: strings as they are, anything else as indented JSON. */
export const asText = (v) => (typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v, null, 2));
