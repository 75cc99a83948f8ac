import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { whenClosed } from '../src/net/index.js';

const closed = (stream: Readable) => new Promise<Error | null>((resolve) => whenClosed(stream, resolve));

describe('whenClosed: a stream that has closed, and how', () => {
  it('says null for a stream read to its end', async () => {
    const s = Readable.from(['a', 'b']);
    const done = closed(s);
    s.resume();
    expect(await done).toBeNull();
  });

  it('says the error of a stream that failed (and the error is not thrown)', async () => {
    const s = new Readable({ read() {} });
    const done = closed(s);
    s.destroy(new Error('upstream cut'));
    expect((await done)?.message).toBe('upstream cut');
  });

  it('says premature close for a stream destroyed before its end without an error', async () => {
    const s = new Readable({ read() {} });
    const done = closed(s);
    s.push('x');
    s.destroy();
    expect(await done).toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
  });

  it('answers for a stream that had already closed', async () => {
    const s = new Readable({ read() {} });
    s.on('error', () => {});
    s.destroy(new Error('gone'));
    await new Promise((r) => s.once('close', r));
    expect((await closed(s))?.message).toBe('gone');
  });

  it('once detached, says nothing', async () => {
    const s = new Readable({ read() {} });
    let said = false;
    const detach = whenClosed(s, () => {
      said = true;
    });
    detach();
    s.destroy();
    await new Promise((r) => s.once('close', r));
    expect(said).toBe(false);
  });
});
