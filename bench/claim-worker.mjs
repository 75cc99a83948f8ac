// One claimer process: claims the best ready task and completes it until nothing is ready.
import { createStore } from '../dist/index.js';
import { TaskBoard } from '../dist/tasks/index.js';

const [storePath, listId, me] = process.argv.slice(2);
const store = createStore(storePath);
const board = new TaskBoard(store, listId, { name: me });
const mine = [];
process.send?.('ready');
await new Promise((r) => process.once('message', r));
for (;;) {
  try {
    const t = await board.claim({ leaseMs: 60_000 });
    mine.push(t.id);
    await board.complete(t.id);
  } catch (err) {
    if (err.code === 'NOTHING_READY') break;
    throw err;
  }
}
await store.close();
process.send?.({ claimed: mine });
