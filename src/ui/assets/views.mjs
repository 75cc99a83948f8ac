// The page's views: runs list, a run (agents, call graph, waterfall, cost, script, logs), inbox, task board.
import { useState } from '/assets/vendor/hooks.mjs';
import { asText, Badge, fmtMs, fmtTime, fmtTokens, fmtUsd, html, postJson, useJson } from './util.mjs';
import { Waterfall } from './waterfall.mjs';

const STATUSES = ['', 'running', 'interrupted', 'waiting', 'completed', 'failed', 'budget_exceeded', 'stopped'];

export function RunsView() {
  const [status, setStatus] = useState('');
  const [workflow, setWorkflow] = useState('');
  const [text, setText] = useState('');
  const [offset, setOffset] = useState(0);
  // A new filter starts at the first page.
  const pick = (set, value) => {
    set(value);
    setOffset(0);
  };
  const q = new URLSearchParams({ offset: String(offset), limit: '50' });
  if (status) q.set('status', status);
  if (workflow) q.set('workflow', workflow);
  if (text) q.set('q', text);
  const { data, error } = useJson(`/api/runs?${q}`);
  const [picked, setPicked] = useState(() => new Set());
  const [bulk, setBulk] = useState({ busy: false, error: undefined, note: undefined });
  const toggle = (id) =>
    setPicked((s) => {
      const n = new Set(s);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });
  const stopPicked = async () => {
    setBulk({ busy: true });
    try {
      const out = await postJson('/api/runs/stop', { runs: [...picked] });
      setPicked(new Set());
      setBulk({ busy: false, note: out.runs.map((r) => `${r.runId}: ${r.outcome}`).join(', ') });
    } catch (err) {
      setBulk({ busy: false, error: err.message });
    }
  };
  return html`
    <section>
      <div class="toolbar">
        <h1>Runs</h1>
        <select aria-label="status" value=${status} onChange=${(e) => pick(setStatus, e.target.value)}>
          ${STATUSES.map((s) => html`<option value=${s}>${s || 'any status'}</option>`)}
        </select>
        <select aria-label="workflow" value=${workflow} onChange=${(e) => pick(setWorkflow, e.target.value)}>
          <option value="">any workflow</option>
          ${(data?.workflows ?? []).map((w) => html`<option value=${w}>${w}</option>`)}
        </select>
        <input type="search" placeholder="filter text" aria-label="text" value=${text} onInput=${(e) => pick(setText, e.target.value)} />
        <button data-testid="bulk-stop" disabled=${bulk.busy || picked.size === 0} onClick=${stopPicked}>stop selected${picked.size ? ` (${picked.size})` : ''}</button>
        ${bulk.note ? html`<span class="muted" data-testid="bulk-note">${bulk.note}</span>` : ''}
        ${bulk.error ? html`<span class="error">${bulk.error}</span>` : ''}
      </div>
      ${error ? html`<p class="error">${error}</p>` : ''}
      <table class="grid" data-testid="runs">
        <thead><tr><th></th><th>status</th><th>workflow</th><th>run</th><th>started</th><th>duration</th><th>agents</th><th>tokens</th><th>spend</th></tr></thead>
        <tbody>
          ${(data?.runs ?? []).map(
            (r) => html`<tr data-run=${r.id} data-status=${r.status}>
              <td><input type="checkbox" aria-label=${`select ${r.id}`} checked=${picked.has(r.id)} onChange=${() => toggle(r.id)} /></td>
              <td><${Badge} state=${r.status} /></td>
              <td>${r.name}</td>
              <td><a href=${`#/run/${encodeURIComponent(r.id)}`} class="mono">${r.id}</a></td>
              <td>${fmtTime(r.createdAt)}</td>
              <td>${fmtMs(r.durationMs)}</td>
              <td>${r.agents.done}/${r.agents.total}${r.agents.failed ? html` <span class="bad">${r.agents.failed} failed</span>` : ''}</td>
              <td>${fmtTokens(r.tokens)}${r.capTokens ? html` <span class="muted">/ ${fmtTokens(r.capTokens)}</span>` : ''}</td>
              <td>${fmtUsd(r.spendUsd)}${r.capUsd ? html` <span class="muted">/ ${fmtUsd(r.capUsd)}</span>` : ''}</td>
            </tr>`,
          )}
        </tbody>
      </table>
      ${data && data.total === 0 ? html`<p class="muted">no runs${status || workflow || text ? ' match' : ' yet: drover run starts one'}</p>` : ''}
      ${
        data && data.total > data.limit
          ? html`<div class="pager">
              <button disabled=${offset === 0} onClick=${() => setOffset(Math.max(0, offset - data.limit))}>newer</button>
              <span>${offset + 1}–${Math.min(data.total, offset + data.limit)} of ${data.total}</span>
              <button disabled=${offset + data.limit >= data.total} onClick=${() => setOffset(offset + data.limit)}>older</button>
            </div>`
          : ''
      }
    </section>`;
}

const TABS = [
  ['agents', 'Agents'],
  ['graph', 'Call graph'],
  ['trace', 'Trace'],
  ['cost', 'Cost'],
  ['script', 'Script'],
  ['logs', 'Logs'],
];

export function RunView({ id, tab, query }) {
  const { data: run, error } = useJson(`/api/runs/${encodeURIComponent(id)}`);
  const base = `#/run/${encodeURIComponent(id)}`;
  if (error && !run) return html`<p class="error">${error}</p>`;
  let body;
  if (tab === 'graph') body = html`<${CallGraph} id=${id} />`;
  else if (tab === 'trace') body = html`<${Waterfall} id=${id} />`;
  else if (tab === 'cost') body = html`<${Cost} id=${id} />`;
  else if (tab === 'script') body = html`<${Script} id=${id} />`;
  else if (tab === 'logs') body = html`<${Logs} id=${id} />`;
  else body = html`<${Agents} id=${id} selected=${query.get('call')} base=${base} />`;
  // The tab's own data is fetched alongside the header, not after it: the body renders at once.
  return html`
    <section>
      ${
        run
          ? html`<div class="runhead" data-testid="run-header">
        <h1>${run.name} <${Badge} state=${run.status} /></h1>
        <div class="facts">
          <span class="mono">${run.id}</span>
          <span>started ${fmtTime(Date.parse(run.createdAt))}</span>
          <span>agents ${run.agentsDone}/${run.agentsTotal}</span>
          <span>spend ${fmtUsd(run.spendUsd)}${run.capUsd ? ` of ${fmtUsd(run.capUsd)} cap` : ''}</span>
          ${run.capTokens ? html`<span>token cap ${fmtTokens(run.capTokens)}</span>` : ''}
          <span>${run.settings.backend} · ${run.settings.model}</span>
          ${run.driver ? html`<span>driven by pid ${run.driver.pid} on ${run.driver.host}</span>` : ''}
        </div>
        ${run.args !== null && run.args !== undefined ? html`<details><summary>args</summary><pre>${asText(run.args)}</pre></details>` : ''}
        ${run.error ? html`<p class="error">${run.error.message}</p>` : ''}
        ${run.status === 'waiting' ? html`<p class="warn">waiting for a human: answer in the <a href="#/inbox">inbox</a>, then <code>drover resume ${run.id}</code> continues it</p>` : ''}
        ${run.status === 'interrupted' ? html`<p class="warn">its driver is gone: <code>drover resume ${run.id}</code> continues it</p>` : ''}
        <${RunActions} run=${run} />
      </div>`
          : html`<div class="runhead"><p class="muted">loading…</p></div>`
      }
      <nav class="tabs">${TABS.map(([t, label]) => html`<a href=${`${base}/${t}`} class=${t === tab ? 'tab on' : 'tab'}>${label}</a>`)}</nav>
      ${body}
    </section>`;
}

/** Stop and resume buttons: stop asks the run's driver to end it `stopped`; resume starts a detached `drover resume`. */
function RunActions({ run }) {
  const [state, setState] = useState({ busy: false, error: undefined, note: undefined });
  const act = async (what) => {
    setState({ busy: true });
    try {
      const out = await postJson(`/api/runs/${encodeURIComponent(run.id)}/${what}`, {});
      setState({
        busy: false,
        note:
          what === 'resume' ? `resumed by pid ${out.pid} (log: ${out.log})` : out.outcome === 'requested' ? 'stop requested' : out.outcome,
      });
    } catch (err) {
      setState({ busy: false, error: err.message });
    }
  };
  const a = run.actions ?? {};
  return html`<div class="actions" data-testid="run-actions">
    <button data-action="stop" disabled=${state.busy || !a.stop || run.stopRequestedAt} onClick=${() => act('stop')}>stop</button>
    <button data-action="resume" disabled=${state.busy || !a.resume} onClick=${() => act('resume')}>resume</button>
    <button data-action="fork" disabled title="fork with --from: drover run <script> --from ${run.id}">fork</button>
    ${run.stopRequestedAt && (run.status === 'running' || run.status === 'waiting') ? html`<span class="muted">stop requested</span>` : ''}
    ${state.note ? html`<span class="muted" data-testid="action-note">${state.note}</span>` : ''}
    ${state.error ? html`<span class="error" data-testid="action-error">${state.error}</span>` : ''}
  </div>`;
}

function Agents({ id, selected, base }) {
  const { data, error } = useJson(`/api/runs/${encodeURIComponent(id)}/calls`);
  if (error && !data) return html`<p class="error">${error}</p>`;
  if (!data) return html`<p class="muted">loading…</p>`;
  return html`
    <div class="split">
      <div class="tree" data-testid="call-tree">
        ${data.phases.length === 0 ? html`<p class="muted">no calls yet</p>` : ''}
        ${data.phases.map(
          (p) => html`<div class="phase" data-phase=${p.title ?? ''}>
            <h3>${p.title ?? '(no phase)'} <span class="muted">${p.done}/${p.calls.length} done${p.running ? `, ${p.running} running` : ''}${p.failed ? `, ${p.failed} failed` : ''} · ${fmtUsd(p.costUsd)}</span></h3>
            <table class="grid">
              <thead><tr><th>state</th><th>call</th><th>model</th><th>turns</th><th>tools</th><th>tokens in/out</th><th>cost</th><th>duration</th></tr></thead>
              <tbody>
                ${p.calls.map(
                  (c) => html`<tr data-call=${c.key} data-label=${c.label} data-state=${c.state} class=${selected === c.key ? 'sel' : ''}>
                    <td><${Badge} state=${c.state} /></td>
                    <td><a href=${`${base}/agents?call=${encodeURIComponent(c.key)}`}>${c.kind === 'agent' ? '' : `${c.kind} `}${c.label}</a>${c.reused ? html` <span class="muted">reused</span>` : ''}</td>
                    <td>${c.model ?? '—'}</td>
                    <td>${c.turns ?? '—'}</td>
                    <td>${c.toolCalls ?? '—'}</td>
                    <td>${fmtTokens(c.inputTokens + c.cacheReadTokens + c.cacheWriteTokens)} / ${fmtTokens(c.outputTokens)}</td>
                    <td>${fmtUsd(c.costUsd)}</td>
                    <td>${fmtMs(c.durationMs)}</td>
                  </tr>`,
                )}
              </tbody>
            </table>
          </div>`,
        )}
      </div>
      ${selected ? html`<${CallDrill} id=${id} callKey=${selected} />` : ''}
    </div>`;
}

function CallDrill({ id, callKey }) {
  const { data, error } = useJson(`/api/runs/${encodeURIComponent(id)}/calls/${encodeURIComponent(callKey)}`);
  if (error && !data) return html`<aside class="drill"><p class="error">${error}</p></aside>`;
  if (!data) return html`<aside class="drill"><p class="muted">loading…</p></aside>`;
  const c = data.call;
  const wt = data.detail?.worktree;
  const prompt = data.inputs?.prompt ?? data.inputs?.command ?? data.inputs?.question;
  return html`
    <aside class="drill" data-testid="drill">
      <h2>${c.label} <${Badge} state=${c.state} /></h2>
      <div class="facts">
        <span>${c.kind}</span><span>${c.backend ?? ''}</span><span>${c.model ?? ''}</span>
        <span>${c.attempts} attempt${c.attempts === 1 ? '' : 's'}</span><span>${fmtMs(c.durationMs)}</span>
        ${data.reusedFrom ? html`<span>reused from ${data.reusedFrom}</span>` : ''}
      </div>
      ${prompt !== undefined ? html`<h3>Prompt</h3><pre data-testid="prompt">${asText(prompt)}</pre>` : ''}
      <details><summary>inputs</summary><pre>${asText(data.inputs)}</pre></details>
      ${data.error ? html`<h3>Error</h3><pre class="error">${data.error.message}</pre>` : html`<h3>Result</h3><pre data-testid="result">${asText(data.result)}</pre>`}
      ${wt ? html`<h3>Worktree</h3><p>branch <code>${wt.branch}</code> ${wt.commit ? html`at <code>${String(wt.commit).slice(0, 12)}</code>` : ''} ${wt.changed ? 'changed' : 'unchanged'}</p>` : ''}
      <h3>Model requests (${data.requests.length})</h3>
      <table class="grid" data-testid="requests">
        <thead><tr><th>model</th><th>status</th><th>in</th><th>cache read</th><th>cache write</th><th>out</th><th>cost</th><th>latency</th></tr></thead>
        <tbody>
          ${data.requests.map(
            (r) => html`<tr data-request=${r.requestId ?? ''}>
              <td>${r.model}</td><td>${r.status}</td><td>${fmtTokens(r.inputTokens)}</td><td>${fmtTokens(r.cacheReadTokens)}</td>
              <td>${fmtTokens(r.cacheWrite5mTokens + r.cacheWrite1hTokens)}</td><td>${fmtTokens(r.outputTokens)}</td>
              <td>${fmtUsd(r.costUsd)}${r.priceFlag !== 'priced' ? html` <span class="muted">${r.priceFlag}</span>` : ''}</td><td>${fmtMs(r.latencyMs)}</td>
            </tr>`,
          )}
        </tbody>
      </table>
      ${data.requests[0]?.source === 'usage' ? html`<p class="muted">from the journal's usage rows, priced from the price table (no ledger rows for this run)</p>` : ''}
      ${c.kind === 'agent' ? html`<${Transcript} id=${id} callKey=${callKey} />` : ''}
      ${data.detail ? html`<details><summary>detail</summary><pre>${asText(data.detail)}</pre></details>` : ''}
    </aside>`;
}

/** An agent's transcript: prompt, each turn with its tool calls (input, output), answer — all as text. */
function Transcript({ id, callKey }) {
  const { data, error } = useJson(`/api/runs/${encodeURIComponent(id)}/calls/${encodeURIComponent(callKey)}/transcript`);
  if (error && !data) return html`<p class="error">${error}</p>`;
  if (!data) return '';
  const rec = data.attempts[data.attempts.length - 1];
  if (!rec) return html`<h3>Transcript</h3><p class="muted" data-testid="transcript-none">${data.note}</p>`;
  const t = rec.transcript;
  return html`<section class="transcript" data-testid="transcript">
    <h3>Transcript <span class="muted">${t.backend}${data.attempts.length > 1 ? ` · attempt ${rec.attempt} of ${data.attempts.length}` : ''}</span></h3>
    ${t.system !== undefined ? html`<details><summary>system prompt</summary><pre>${t.system}</pre></details>` : ''}
    <div class="t-prompt"><strong>prompt</strong><pre data-testid="t-prompt">${t.prompt}</pre></div>
    ${t.turns.map(
      (turn, i) => html`<div class="t-turn" data-turn=${i + 1}>
        <strong>turn ${i + 1}</strong> <span class="muted">${turn.model ?? ''}${turn.outputTokens !== undefined ? ` · ${turn.outputTokens} out` : ''}</span>
        ${turn.text ? html`<pre class="t-text">${turn.text}</pre>` : ''}
        ${turn.toolCalls.map(
          (call) => html`<div class=${call.isError ? 't-tool bad' : 't-tool'} data-tool=${call.name}>
            <div><code>${call.name}</code>${call.isError ? html` <span class="bad">error</span>` : ''}</div>
            <pre class="t-input">${asText(call.input)}</pre>
            <pre class="t-output">${call.output ?? '(no result: the agent was stopped)'}</pre>
          </div>`,
        )}
      </div>`,
    )}
    ${t.error ? html`<div class="t-error"><strong>error</strong><pre class="error">${t.error.code}: ${t.error.message}</pre></div>` : html`<div class="t-answer"><strong>answer</strong><pre data-testid="t-answer">${t.answer ?? ''}</pre></div>`}
  </section>`;
}

const COLOURS = {
  done: '#2e7d32',
  running: '#1565c0',
  failed: '#c62828',
  interrupted: '#ef6c00',
  waiting: '#8e24aa',
  pending: '#9e9e9e',
  completed: '#2e7d32',
  ready: '#00897b',
  in_progress: '#1565c0',
  cancelled: '#9e9e9e',
};

/** A laid-out DAG (from the server) as SVG, boxes coloured by `data.state` or `data.status`. */
export function Dag({ dag, onPick, testid }) {
  if (!dag || dag.nodes.length === 0) return html`<p class="muted">nothing to draw</p>`;
  return html`
    <div class="dag" data-testid=${testid}>
      <svg width=${dag.width} height=${dag.height} viewBox=${`0 0 ${dag.width} ${dag.height}`}>
        ${dag.edges.map((e) => html`<polyline class="edge" points=${e.points.map((p) => `${p.x},${p.y}`).join(' ')} />`)}
        ${dag.nodes.map((n) => {
          const state = n.data?.ready ? 'ready' : (n.data?.state ?? n.data?.status ?? 'pending');
          return html`<g class=${`node n-${state}`} data-node=${n.id} data-state=${state} transform=${`translate(${n.x - n.width / 2},${n.y - n.height / 2})`} onClick=${() => onPick?.(n)}>
            <rect width=${n.width} height=${n.height} rx="5" style=${`stroke:${COLOURS[state] ?? '#455a64'}`} />
            <text x="8" y="19">${n.label}</text>
          </g>`;
        })}
      </svg>
    </div>`;
}

function CallGraph({ id }) {
  const { data, error } = useJson(`/api/runs/${encodeURIComponent(id)}/graph`);
  if (error && !data) return html`<p class="error">${error}</p>`;
  const pick = (n) => {
    if (n.data?.key) location.hash = `#/run/${encodeURIComponent(id)}/agents?call=${encodeURIComponent(n.data.key)}`;
  };
  return html`<${Dag} dag=${data} onPick=${pick} testid="call-graph" />`;
}

function Buckets({ title, rows }) {
  return html`<div class="bucket"><h3>${title}</h3>
    <table class="grid"><thead><tr><th></th><th>requests</th><th>in</th><th>cache r/w</th><th>out</th><th>cost</th></tr></thead>
    <tbody>${rows.map(
      (b) => html`<tr data-key=${b.key}><td>${b.key}</td><td>${b.requests}</td><td>${fmtTokens(b.inputTokens)}</td>
        <td>${fmtTokens(b.cacheReadTokens)} / ${fmtTokens(b.cacheWriteTokens)}</td><td>${fmtTokens(b.outputTokens)}</td>
        <td>${fmtUsd(b.costUsd)}${b.unpriced ? html` <span class="muted">${b.unpriced} unpriced</span>` : ''}</td></tr>`,
    )}</tbody></table></div>`;
}

function SpendChart({ points }) {
  if (points.length < 2) return '';
  const w = 480;
  const hgt = 120;
  const t0 = points[0].at;
  const t1 = points[points.length - 1].at || t0 + 1;
  const max = points[points.length - 1].usd || 1;
  const xy = points.map((p) => `${((p.at - t0) / Math.max(1, t1 - t0)) * w},${hgt - (p.usd / max) * hgt}`).join(' ');
  return html`<svg class="chart" width=${w} height=${hgt + 4}><polyline points=${xy} /></svg>`;
}

function Cost({ id }) {
  const { data, error } = useJson(`/api/runs/${encodeURIComponent(id)}/cost`);
  if (error && !data) return html`<p class="error">${error}</p>`;
  if (!data) return html`<p class="muted">loading…</p>`;
  if (data.source === 'none') return html`<p class="muted" data-testid="cost">no model requests recorded for this run</p>`;
  return html`
    <div data-testid="cost">
      <p>total <strong>${fmtUsd(data.total.costUsd)}</strong> for ${data.total.requests} requests
        ${data.cap.tokens ? html` · token cap ${fmtTokens(data.cap.tokens)}` : ''}
        <span class="muted"> · ${data.source === 'ledger' ? "from the gateway's ledger" : 'from usage rows, priced from the price table'}</span></p>
      <${SpendChart} points=${data.overTime} />
      <div class="buckets">
        <${Buckets} title="By phase" rows=${data.byPhase} />
        <${Buckets} title="By agent" rows=${data.byAgent} />
        <${Buckets} title="By model" rows=${data.byModel} />
        <div class="bucket"><h3>By token class</h3><table class="grid"><tbody>
          ${data.byTokenClass.map((t) => html`<tr><td>${t.class}</td><td>${fmtTokens(t.tokens)}</td></tr>`)}
        </tbody></table></div>
      </div>
    </div>`;
}

function Script({ id }) {
  const { data, error } = useJson(`/api/runs/${encodeURIComponent(id)}/script`, false);
  if (error && !data) return html`<p class="error">${error}</p>`;
  if (!data) return html`<p class="muted">loading…</p>`;
  return html`<div><p class="muted">${data.path} · ${data.form} · ${data.hash.slice(0, 12)}</p><pre class="code" data-testid="script">${data.source}</pre></div>`;
}

function Logs({ id }) {
  const { data, error } = useJson(`/api/runs/${encodeURIComponent(id)}/events`);
  if (error && !data) return html`<p class="error">${error}</p>`;
  if (!data) return html`<p class="muted">loading…</p>`;
  if (data.length === 0) return html`<p class="muted">no events</p>`;
  return html`<table class="grid" data-testid="logs"><tbody>
    ${data.map((e) => html`<tr class=${`ev-${e.type}`}><td>${new Date(e.ts).toLocaleTimeString()}</td><td>${e.type}</td><td>${e.type === 'phase' ? e.data.title : (e.data.message ?? asText(e.data))}</td></tr>`)}
  </tbody></table>`;
}

function Question({ q }) {
  const [text, setText] = useState(q.choices?.[0] ?? '');
  const [state, setState] = useState({ busy: false, error: undefined, done: false });
  const submit = async (e) => {
    e.preventDefault();
    setState({ busy: true });
    try {
      await postJson(`/api/runs/${encodeURIComponent(q.runId)}/questions/${encodeURIComponent(q.id)}/answer`, { answer: text });
      setState({ busy: false, done: true });
    } catch (err) {
      setState({ busy: false, error: err.message });
    }
  };
  return html`<li class="question" data-question=${q.id} data-run=${q.runId}>
    <div class="muted"><a href=${`#/run/${encodeURIComponent(q.runId)}`}>${q.runName}</a> · <span class="mono">${q.runId}</span> · ${fmtTime(q.createdAt)}</div>
    <p class="qtext">${q.question}</p>
    ${
      state.done
        ? html`<p class="ok">answered; <code>${q.resume}</code> continues the run</p>`
        : html`<form onSubmit=${submit}>
            ${
              q.choices
                ? html`<select aria-label="answer" value=${text} onChange=${(e) => setText(e.target.value)}>${q.choices.map((c) => html`<option value=${c}>${c}</option>`)}</select>`
                : html`<input aria-label="answer" value=${text} onInput=${(e) => setText(e.target.value)} />`
            }
            <button type="submit" disabled=${state.busy || !text}>answer</button>
            ${state.error ? html`<span class="error">${state.error}</span>` : ''}
          </form>`
    }
  </li>`;
}

export function InboxView() {
  const { data, error } = useJson('/api/questions');
  return html`<section>
    <h1>Inbox</h1>
    <p class="muted">Questions runs are waiting on. An answer is stored at once; the run continues when it is resumed — its page's <b>resume</b> button, or <code>drover resume RUN</code> in a terminal.</p>
    ${error ? html`<p class="error">${error}</p>` : ''}
    ${data && data.length === 0 ? html`<p class="muted">nothing is waiting for a human</p>` : ''}
    <ul class="inbox" data-testid="inbox">${(data ?? []).map((q) => html`<${Question} key=${`${q.runId}/${q.id}`} q=${q} />`)}</ul>
  </section>`;
}

export function TasksView({ list }) {
  const { data, error } = useJson(`/api/tasks${list ? `?list=${encodeURIComponent(list)}` : ''}`);
  const [picked, setPicked] = useState(null);
  const listId = data?.listId;
  const history = useJson(picked && listId ? `/api/tasks/${encodeURIComponent(listId)}/history?task=${encodeURIComponent(picked)}` : null);
  if (error && !data) return html`<p class="error">${error}</p>`;
  if (!data) return html`<p class="muted">loading…</p>`;
  const task = data.tasks.find((t) => t.id === picked);
  return html`<section>
    <div class="toolbar">
      <h1>Task board</h1>
      <select aria-label="list" value=${listId ?? ''} onChange=${(e) => {
        location.hash = `#/tasks?list=${encodeURIComponent(e.target.value)}`;
      }}>
        ${data.lists.map((l) => html`<option value=${l}>${l}</option>`)}
      </select>
      <span class="muted">${Object.entries(data.counts)
        .map(([k, v]) => `${v} ${k}`)
        .join(' · ')}</span>
    </div>
    ${listId ? '' : html`<p class="muted">no task lists yet: drover tasks add creates one</p>`}
    <div class="split">
      <${Dag} dag=${data.dag} onPick=${(n) => setPicked(n.id)} testid="task-dag" />
      ${
        task
          ? html`<aside class="drill" data-testid="task">
              <h2>#${task.id} ${task.subject}</h2>
              <div class="facts"><${Badge} state=${task.ready ? 'ready' : task.status} /><span>owner ${task.owner ?? '—'}</span>
                <span>priority ${task.priority}</span>${task.leaseExpiresAt ? html`<span>lease until ${fmtTime(task.leaseExpiresAt)}${task.leaseExpired ? ' (expired)' : ''}</span>` : ''}</div>
              ${task.description ? html`<pre>${task.description}</pre>` : ''}
              <p>blocked by ${task.blockedBy.join(', ') || 'nothing'} · blocks ${task.blocks.join(', ') || 'nothing'}</p>
              <h3>History</h3>
              <ul class="history">${(history.data ?? []).map((e) => html`<li>${fmtTime(e.at)} <strong>${e.kind}</strong> by ${e.actor}</li>`)}</ul>
            </aside>`
          : ''
      }
    </div>
  </section>`;
}
