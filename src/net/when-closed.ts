import type { Readable } from 'node:stream';

/**
 * Calls `done` once, when `stream` has closed: with null when it ended normally (all its data
 * was read), else with its error (or a premature-close error when it was destroyed without one).
 * If it has closed already, `done` runs on the next tick. Returns a function that detaches it.
 *
 * What `stream.finished` does for a stream that emits `close` (every Readable with the default
 * `emitClose`, http.IncomingMessage included) with two listeners instead of eight and their
 * closures: the gateway waits on each answer's body twice, and at 200 concurrent streams those
 * listeners were a large share of the state that survives young-generation garbage collections —
 * whose pauses are the proxy's time-to-first-byte tail.
 * @throws nothing; `done`'s own errors propagate from the `close` event.
 */
const ignore = () => {};

export function whenClosed(stream: Readable, done: (err: Error | null) => void): () => void {
  const onClose = () => {
    if (stream.errored) return done(stream.errored);
    done(stream.readableEnded ? null : Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
  };
  if (stream.closed) {
    const tick = setImmediate(onClose);
    return () => clearImmediate(tick);
  }
  // An `error` with no listener would be thrown (and its `close` never emitted): it is read from
  // `stream.errored` when the stream closes instead.
  stream.on('error', ignore);
  stream.once('close', onClose);
  return () => {
    stream.off('close', onClose);
    stream.off('error', ignore);
  };
}
