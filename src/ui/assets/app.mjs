// The page's shell: navigation, hash routes (#/runs, #/run/<id>/<tab>, #/inbox, #/tasks) and the live-update stream.

import { useEffect, useState } from '/assets/vendor/hooks.mjs';
import { render } from '/assets/vendor/preact.mjs';
import { html, startLive, useJson } from './util.mjs';
import { InboxView, RunsView, RunView, TasksView } from './views.mjs';

function parseRoute() {
  const [path, query = ''] = location.hash.replace(/^#/, '').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { parts, query: new URLSearchParams(query) };
}

function App() {
  const [route, setRoute] = useState(parseRoute());
  const [live, setLive] = useState(false);
  useEffect(() => {
    const onHash = () => setRoute(parseRoute());
    addEventListener('hashchange', onHash);
    startLive(setLive);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  const inbox = useJson('/api/questions');
  const session = useJson('/api/session', false);
  const [top, id, tab] = route.parts;
  let view;
  if (top === 'run' && id) view = html`<${RunView} id=${id} tab=${tab ?? 'agents'} query=${route.query} />`;
  else if (top === 'inbox') view = html`<${InboxView} />`;
  else if (top === 'tasks') view = html`<${TasksView} list=${route.query.get('list') ?? ''} />`;
  else view = html`<${RunsView} />`;
  const waiting = inbox.data?.length ?? 0;
  return html`
    <header class="top">
      <strong class="brand">drover</strong>
      <nav>
        <a href="#/runs" class=${!top || top === 'runs' || top === 'run' ? 'on' : ''}>Runs</a>
        <a href="#/inbox" class=${top === 'inbox' ? 'on' : ''} data-testid="nav-inbox">Inbox${waiting ? html` <span class="count">${waiting}</span>` : ''}</a>
        <a href="#/tasks" class=${top === 'tasks' ? 'on' : ''}>Task board</a>
      </nav>
      <span class="spacer"></span>
      ${session.data && !session.data.token ? html`<span class="warn" title="open the URL drover ui printed to answer questions">read-only: no token</span>` : ''}
      <span class=${live ? 'live on' : 'live'} data-testid="live">${live ? 'live' : 'offline'}</span>
    </header>
    <main>${view}</main>`;
}

const root = document.getElementById('app');
root.textContent = ''; // the "loading…" placeholder: Preact 11 renders next to existing children
render(html`<${App} />`, root);
