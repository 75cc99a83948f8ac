/**
 * @module The search worker's entry: runs one {@link SearchJob} given as
 * `workerData` and posts its {@link SearchReply}. The driver terminates the
 * worker on abort or when its time limit passes.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runSearchJob, type SearchJob, SearchRefusal, type SearchReply } from './search.js';

const post = (reply: SearchReply) => parentPort?.postMessage(reply);

post({ type: 'started' });
runSearchJob(workerData as SearchJob).then(
  (text) => post({ type: 'done', text }),
  (err: unknown) => {
    if (err instanceof SearchRefusal) post({ type: 'refused', message: err.message });
    else throw err; // reaches the driver as the worker's 'error' event
  },
);
