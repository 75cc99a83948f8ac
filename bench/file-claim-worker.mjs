// The same workload through Claude Code's file protocol: a task directory, per-task
// `<n>.json.lock` directories (proper-lockfile, as Claude Code uses), read-check-write.
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';

const [dir, me] = process.argv.slice(2);
const mine = [];
const write = (path, task) => {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(task, null, 2));
  renameSync(tmp, path);
};
process.send?.('ready');
await new Promise((r) => process.once('message', r));
const names = readdirSync(dir).filter((n) => /^\d+\.json$/.test(n));
// Start at a different place per worker so they do not all fight over file 1.
const offset = Math.floor(Math.random() * names.length);
for (;;) {
  let claimedOne = false;
  for (let i = 0; i < names.length; i++) {
    const path = join(dir, names[(i + offset) % names.length]);
    let task;
    try {
      task = JSON.parse(readFileSync(path, 'utf8'));
    } catch {
      continue;
    }
    if (task.status !== 'pending') continue;
    let release;
    try {
      release = await lockfile.lock(path, { realpath: false, stale: 10_000, retries: 0 });
    } catch {
      continue; // someone else holds it
    }
    try {
      const fresh = JSON.parse(readFileSync(path, 'utf8'));
      if (fresh.status !== 'pending') continue;
      write(path, { ...fresh, status: 'in_progress', owner: me });
      mine.push(fresh.id);
      claimedOne = true;
      write(path, { ...fresh, status: 'completed', owner: me });
    } finally {
      await release();
    }
  }
  if (!claimedOne) break;
}
process.send?.({ claimed: mine });
