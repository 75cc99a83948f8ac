// Loaded first and importing nothing: starts a run page's first reads (its header, and on the
// trace tab the waterfall's first page) while the app's modules are still loading. The app's
// getJson (util.mjs) takes each answer once, for the same URL, instead of fetching it again.
const run = location.hash.match(/^#\/run\/([^/?]+)(?:\/([^/?]*))?/);
let id;
try {
  id = run ? encodeURIComponent(decodeURIComponent(run[1])) : undefined;
} catch {
  id = undefined; // a malformed address: the app says so; nothing is asked for early
}
if (id) {
  const urls = [`/api/runs/${id}`];
  if (run[2] === 'trace') urls.push(`/api/runs/${id}/spans?offset=0&limit=200`);
  globalThis.droverEarly = new Map(urls.map((u) => [u, fetch(u, { headers: { accept: 'application/json' } })]));
}
