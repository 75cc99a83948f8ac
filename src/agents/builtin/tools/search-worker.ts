/**
 * @module The search worker's entry: runs each {@link SearchJob} it is sent, one
 * at a time, and answers with {@link SearchReply} messages. The driver
 * terminates the worker on abort or when its time limit passes, and keeps an
 * idle one for the next search otherwise.
 */
import { parentPort } from 'node:worker_threads';
import { runSearchJob, type SearchJob, SearchRefusal, type SearchReply } from './search.js';

const port = parentPort;
if (!port) throw new Error('search-worker.js runs as a worker thread');
const post = (reply: SearchReply) => port.postMessage(reply);

port.on('message', (job: SearchJob) => {
  post({ type: 'started' });
  let text: string;
  try {
    text = runSearchJob(job);
  } catch (err) {
    if (err instanceof SearchRefusal) post({ type: 'refused', message: err.message });
    else throw err; // reaches the driver as the worker's 'error' event
    return;
  }
  post({ type: 'done', text });
});
